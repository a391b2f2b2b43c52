"""A reply backend that loads on a thread while the shop already serves: the local model takes ~20 s of a 29 s
restart on 2 CPU cores, and nothing else waits for it. Until it is ready (or if loading fails) the template answers,
which is grounded by construction; the failure is logged.

    backend = BackgroundBackend(lambda: LocalLMBackend(), name="local", supports_prefix=True, start=False)
    ...                     # build the shop first: on 2 cores a loading model halves the catalog's embedding speed
    backend.start()
    backend.wait(60)        # tests and benchmarks: block until loaded (True) or failed/timed out (False)
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator, Sequence

from assistant.reply.backends import Backend
from assistant.reply.facts import ReplyFacts
from assistant.reply.prompt import last_user_message
from assistant.reply.template import TemplateBackend, word_chunks

log = logging.getLogger("assistant.reply.background")


class BackgroundBackend:
    def __init__(self, load: Callable[[], Backend], name: str, supports_prefix: bool, start: bool = True):
        self.name = name  # the loaded backend's name, known before it loads ("local")
        self.supports_prefix = supports_prefix  # the loaded backend's, so the pipeline's lead sentence fits
        self.error: str | None = None
        self._backend: Backend | None = None
        self._template = TemplateBackend()
        self._done = threading.Event()
        self._loader = threading.Thread(target=self._load, args=(load,), name="reply-model-loader", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Begin loading (once; later calls do nothing)."""
        if self._loader.ident is None:  # never started (a thread can be started only once)
            self._loader.start()

    def _load(self, load: Callable[[], Backend]) -> None:
        try:
            self._backend = load()
            log.info("reply model loaded: %s", self.name)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the template answering, and says why
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("the reply model did not load, the template answers: %s", self.error)
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._backend is not None

    def wait(self, timeout: float | None = None) -> bool:
        self._done.wait(timeout)
        return self.ready

    def stream(self, messages: Sequence[dict], facts: ReplyFacts | None = None, prefix: str = "") -> Iterator[str]:
        if self._backend is not None:
            yield from self._backend.stream(messages, facts, prefix=prefix)
            return
        # Still loading: the template's reply, after the lead sentence the pipeline already showed.
        text = self._template.reply(facts or ReplyFacts(), last_user_message(messages))
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
        yield from word_chunks(text)

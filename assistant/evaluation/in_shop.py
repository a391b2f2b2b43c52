"""Acts as a shop decides them: the classifier's reading of a fresh message, checked against the loaded catalog by
the session state (assistant.dialogue.context.update_context), exactly as the pipeline runs a first message.

    kinds = shop_kinds(classifier, ["gas can nozzle replacement"], vocab)   # -> ["search"] in a shop selling them

Why: the classifier alone cannot know what a shop sells; "name tags" reads like small talk until the catalog says
the shop sells name tags. The shops measured: one whose catalog is ESCI's 200 judged products (the queries' own
shop) and the demo shop (a shop that sells other things).
"""
from __future__ import annotations

import numpy as np

from assistant.dialogue.acts import ACTS, ActClassifier, posterior
from assistant.dialogue.context import SessionState, update_context
from assistant.dialogue.train_acts import cached_embeddings
from assistant.dialogue.vocabulary import Vocabulary


def shop_kinds(classifier: ActClassifier, texts: list[str], vocab: Vocabulary, cache_dir=None) -> list[str]:
    """The turn kind the pipeline would give each text as the first message of a session."""
    vectors = cached_embeddings(texts, classifier.embedder, cache_dir)
    acts = [ACTS[i] for i in np.argmax(posterior(classifier.probabilities(vectors, texts), False), axis=1)]
    return [update_context(SessionState(), text, vocab, act=act).kind for text, act in zip(texts, acts)]

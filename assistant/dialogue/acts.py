"""Dialogue acts: what a shopper's message asks the assistant to do, from a small learned head (trained by
assistant/dialogue/train_acts.py, shipped as acts_head.npz) over the message's MiniLM sentence embedding, a few
surface cues and hashed word uni/bigrams.

    classifier = ActClassifier.load()                       # the shipped head, the shared MiniLM encoder
    classifier.predict("cheaper?", shown=True).act          # -> "refine"
    classifier.predict_many(["hi", "is it waterproof?"], shown=[False, True])

Acts: "search" (a new product request), "refine" (change the current search's constraints), "ask_product" (a
question about a shown product), "compare" (shown products against each other), "cart" (add or remove a shown
product), "service" (after-sales and customer service), "smalltalk" (greetings, thanks, about the assistant) and
"out_of_scope" (anything a shop assistant should not answer). Only search, refine, ask_product, compare and cart
show product cards (CARD_ACTS).

Why three kinds of input: the sentence embedding says what a message is about (its topic) far more than what it
asks for; the act often lives in small words ("is it ...", "which one", "add", "the" against "a"), which hashed
uni/bigrams carry, and in a few surface cues (see features()).

Priors, not learned features: no public data says what was on screen, nor how often shoppers do what. The head is
trained class-balanced, so it estimates p(act | text) under a uniform prior over acts; the answer is
p(act | text, shown) proportional to p(act | text) * ACT_MIX[act] * p(shown | act), assuming the wording does not
depend on the screen once the act is known. ACT_MIX is an assumed mix of a shop chat's messages (product searches
and refinements are most of them, out-of-scope few); it makes a keyword query from an unfamiliar domain ("07 tahoe
driver mirror") a search rather than out_of_scope. P_SHOWN: acts about shown products almost never come without
products on screen (0.97); every other act comes after products were shown in most of a session (0.75). So with
nothing shown "the second one" weighs 0.03/0.25 = 0.12 times as much as its text alone says, and with products shown
0.97/0.75 = 1.3 times: a mild nudge; a clear text still wins either way ("add it" with nothing shown stays "cart",
which the pipeline answers with "nothing to add yet"). Neither table was fitted to an evaluation set.

The only rule: a message with nothing in it is "smalltalk" (exact: there is nothing to classify). Imports only
catalog (the encoder).
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

ACTS = ("search", "refine", "ask_product", "compare", "cart", "service", "smalltalk", "out_of_scope")
NEEDS_SHOWN = frozenset({"refine", "ask_product", "compare", "cart"})
CARD_ACTS = frozenset({"search"}) | NEEDS_SHOWN  # the acts answered with product cards
P_SHOWN = {act: 0.97 if act in NEEDS_SHOWN else 0.75 for act in ACTS}  # p(products on screen | act), see above
ACT_MIX = {"search": 0.30, "refine": 0.15, "ask_product": 0.12, "compare": 0.05, "cart": 0.08, "service": 0.12,
           "smalltalk": 0.08, "out_of_scope": 0.10}  # assumed share of a shop chat's messages, see above
HEAD = Path(__file__).resolve().parent / "acts_head.npz"
MAX_CHARS = 2000  # the app's message cap; the encoder reads only the first 256 word pieces anyway
HASH_DIM = 4096  # hashed word uni/bigram slots: collisions are rare among the few thousand grams that matter

_MONEY = re.compile(r"[$£€¥]|\d")
_WORD = re.compile(r"[\w']+")
# Words that make a message a sentence (pronouns, question words, auxiliaries, articles, courtesy). A message with
# none of them is keywords ("digital keypad door lock", "07 tahoe driver mirror"): in a shop, almost always a search,
# even when the words belong to a domain the shop does not serve (cars, doors, cooking).
_SENTENCE_WORDS = frozenset("""i i'm i'd i'll me my mine you you're your yours we our us he him his she her they them
their it it's its this that these those there what what's whats how why who when where which is are was were am be
been do does did don't can can't could would will won't should shall may might have has had the a an please pls
thanks thank hi hello hey yes no not ok okay let's tell show give find""".split())
# Words that point at something already shown ("is it waterproof?", "which one is lighter?", "the second one"): a
# general question ("is coffee bad for you?", "which team is the best?") has none of them.
_POINTING_WORDS = frozenset("""it it's its this that these those one ones them they both either first second third
fourth fifth last 1st 2nd 3rd 4th former latter same""".split())
N_CUES = 5


@dataclass
class ActPrediction:
    act: str
    confidence: float  # the chosen act's probability
    scores: dict[str, float]  # every act's probability (sums to 1)


def telegraphic(text: str) -> str:
    """The message as keywords: its words without the words of a sentence ("what's the weather like tomorrow?" ->
    "weather like tomorrow")."""
    return " ".join(w for w in _WORD.findall(text.lower().replace("\u2019", "'")) if w not in _SENTENCE_WORDS)


def keywords(text: str) -> list[str]:
    """The message's words when it is keywords only (no word of a sentence, see _SENTENCE_WORDS), else []."""
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return [] if any(w in _SENTENCE_WORDS for w in words) else words


def _cues(text: str, words: list[str]) -> list[float]:
    return [float(bool(_MONEY.search(text))), float("?" in text), min(len(words), 30) / 10.0,
            float(bool(words) and not any(w in _SENTENCE_WORDS for w in words)),
            float(any(w in _POINTING_WORDS for w in words))]


def features(vectors: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The head's input, shared by training and inference so they can never disagree: a dense part (the embedding
    plus N_CUES cues the encoder represents weakly: a number or price, a question mark, the length in words,
    keywords only, points at something shown) and, per text, the ids of its hashed word uni/bigrams. The gram
    part is a binary vector scaled to length 1 (like the embedding), so each id weighs 1/sqrt(number of ids)."""
    dense, grams = [], []
    for text in texts:
        words = _WORD.findall(text.lower())
        dense.append(_cues(text, words))
        keys = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
        grams.append(np.array(sorted({zlib.crc32(k.encode("utf-8")) % HASH_DIM for k in keys}), dtype=np.int64))
    surface = np.array(dense, dtype=np.float32).reshape(len(texts), N_CUES)
    return np.hstack([np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), surface]), grams


def shown_prior(shown: bool) -> np.ndarray:
    """ACT_MIX[act] * p(shown | act) for every act, in ACTS order: the prior the head's output is multiplied by."""
    return np.array([ACT_MIX[a] * (P_SHOWN[a] if shown else 1.0 - P_SHOWN[a]) for a in ACTS])


def posterior(p_text: np.ndarray, shown: bool | Sequence[bool]) -> np.ndarray:
    """p(act | text, shown) from the head's p(act | text) rows (uniform prior): times the prior, renormalised."""
    flags = np.broadcast_to(np.asarray(shown, dtype=bool), (len(p_text),))
    p = np.asarray(p_text) * np.stack([shown_prior(bool(f)) for f in flags]).reshape(len(p_text), len(ACTS))
    return p / p.sum(axis=1, keepdims=True)


class ActClassifier:
    """The trained head with its encoder. Thread-safe: prediction reads only (the encoder locks itself).
    weights: (acts, dense features + HASH_DIM), the dense columns first."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, embedder, meta: dict | None = None):
        self.weights, self.bias, self.embedder, self.meta = weights, bias, embedder, meta or {}
        self.dense = weights.shape[1] - HASH_DIM

    @classmethod
    def load(cls, path: str | Path | None = None, embedder=None) -> ActClassifier:
        """The head at `path` (default: the one shipped in the package) with `embedder` (default: the shared
        MiniLM encoder of catalog.embed). A head trained for other acts or another encoder size is refused."""
        with np.load(Path(path or HEAD), allow_pickle=False) as data:
            acts, weights, bias = tuple(str(a) for a in data["acts"]), data["weights"], data["bias"]
            meta = json.loads(str(data["meta"])) if "meta" in data else {}
        if acts != ACTS or weights.shape[0] != len(ACTS) or bias.shape != (len(ACTS),):
            raise ValueError(f"{path or HEAD}: a head for acts {acts}, expected {ACTS}")
        if embedder is None:
            from catalog.embed import get_embedder

            embedder = get_embedder(meta.get("embed_model"))
        expected = embedder.dim + N_CUES + HASH_DIM
        if weights.shape[1] != expected:
            raise ValueError(f"{path or HEAD}: {weights.shape[1]} features, this encoder needs {expected}")
        return cls(weights.astype(np.float32), bias.astype(np.float32), embedder, meta)

    def text_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """p(act | text) for each text, rows in ACTS order, before the priors."""
        texts = [t[:MAX_CHARS] for t in texts]
        return self.probabilities(self.embedder.encode(texts), texts)

    def probabilities(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """p(act | text) from the texts' embeddings (the evaluation passes cached ones)."""
        dense, grams = features(vectors, texts)
        logits = dense @ self.weights[:, :self.dense].T + self.bias
        for row, ids in zip(logits, grams):
            if len(ids):  # the sparse part: the columns of the text's grams, each 1/sqrt(n)
                row += self.weights[:, self.dense + ids].sum(axis=1) / np.sqrt(len(ids))
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_many(self, texts: Sequence[str], shown: bool | Sequence[bool] = False) -> list[ActPrediction]:
        """One prediction per text; `shown` is one flag for all or one per text."""
        texts = ["" if t is None else str(t) for t in texts]
        flags = [bool(shown)] * len(texts) if isinstance(shown, (bool, np.bool_)) else [bool(s) for s in shown]
        if len(flags) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(flags)} shown flags")
        clean = [" ".join(t.split()) for t in texts]
        todo = [n for n, t in enumerate(clean) if t]
        out: list[ActPrediction] = [_empty()] * len(texts)
        if todo:
            p = posterior(self.text_probabilities([clean[n] for n in todo]), [flags[n] for n in todo])
            for n, row in zip(todo, p):
                best = int(np.argmax(row))
                out[n] = ActPrediction(ACTS[best], float(row[best]), {a: float(v) for a, v in zip(ACTS, row)})
        return out

    def predict(self, text: str, shown: bool = False) -> ActPrediction:
        return self.predict_many([text], shown)[0]


def _empty() -> ActPrediction:
    """An empty message (exact rule: there is nothing to classify) is smalltalk: a prompt for what they want."""
    return ActPrediction("smalltalk", 1.0, {a: float(a == "smalltalk") for a in ACTS})

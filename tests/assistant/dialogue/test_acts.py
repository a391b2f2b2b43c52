"""Dialogue acts: the shipped head on clear messages, odd input, the `shown` prior, the head file checks, and the
training path on a tiny synthetic dataset (no shared data, no MiniLM: a stand-in encoder)."""
from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

from assistant.dialogue.acts import ACTS, CARD_ACTS, HEAD, ActClassifier, posterior, shown_prior
from assistant.dialogue.train_acts import ActDataError, feature_matrix, train_acts

CLEAR = [
    # (message, products shown, act)
    ("waterproof hiking jacket under $100", False, "search"),
    ("do you sell cordless drills?", False, "search"),
    ("a birthday present for my dad who likes fishing", False, "search"),
    ("what about something for his home office instead?", True, "search"),
    ("running shoes", False, "search"),
    ("cheaper?", True, "refine"),
    ("in blue", True, "refine"),
    ("not that brand", True, "refine"),
    ("under $50", True, "refine"),
    ("best reviews?", True, "refine"),
    ("show me ones in black instead", True, "refine"),
    ("tell me more about the second one", True, "ask_product"),
    ("is it waterproof?", True, "ask_product"),
    ("what's the dress rated?", True, "ask_product"),
    ("the second one", True, "ask_product"),
    ("does the blue one come in large?", True, "ask_product"),
    ("compare the first two", True, "compare"),
    ("which one is lighter?", True, "compare"),
    ("what's the difference between them?", True, "compare"),
    ("add it to my cart", True, "cart"),
    ("add it", True, "cart"),
    ("I'll take the brown one", True, "cart"),
    ("remove the jacket from my cart", True, "cart"),
    ("gift wrap?", False, "service"),
    ("where is my order?", False, "service"),
    ("I want to return the shoes I bought last week", False, "service"),
    ("the mug arrived broken", False, "service"),
    ("how long does delivery take?", False, "service"),
    ("can I pay with paypal?", False, "service"),
    ("thanks!", True, "smalltalk"),
    ("hi", False, "smalltalk"),
    ("how are you?", False, "smalltalk"),
    ("who are you?", False, "smalltalk"),
    ("bye", True, "smalltalk"),
    ("what's the weather tomorrow?", False, "out_of_scope"),
    ("tell me a joke", False, "out_of_scope"),
    ("book me a flight to Rome", False, "out_of_scope"),
    ("transfer $50 to my savings account", False, "out_of_scope"),
    ("what's 17 times 23?", False, "out_of_scope"),
    ("how do I cook rice?", False, "out_of_scope"),
]


@pytest.fixture(scope="module")
def classifier(embedder):
    return ActClassifier.load(embedder=embedder)


@pytest.mark.parametrize("text, shown, act", CLEAR)
def test_clear_messages_get_their_act(classifier, text, shown, act):
    assert classifier.predict(text, shown=shown).act == act


def test_batch_equals_one_by_one_and_scores_are_probabilities(classifier):
    texts = [t for t, _, _ in CLEAR]
    flags = [s for _, s, _ in CLEAR]
    batch = classifier.predict_many(texts, shown=flags)
    assert [p.act for p in batch] == [a for _, _, a in CLEAR]
    for prediction in batch:
        assert set(prediction.scores) == set(ACTS) and sum(prediction.scores.values()) == pytest.approx(1.0)
        assert prediction.confidence == max(prediction.scores.values())
    with pytest.raises(ValueError):
        classifier.predict_many(["a", "b"], shown=[True])


def test_empty_and_odd_input(classifier):
    for text in ("", "   \n\t", None):
        p = classifier.predict(text)
        assert p.act == "smalltalk" and p.confidence == 1.0
    for text in ("🙂", "??!!", "x" * 5000, "\u202e\u200b", "¿dónde está mi pedido?", "<script>alert(1)</script>"):
        p = classifier.predict(text, shown=True)
        assert p.act in ACTS and 0 < p.confidence <= 1 and np.isfinite(list(p.scores.values())).all()
    assert classifier.predict_many([]) == []


def test_shown_is_a_prior_that_moves_acts_about_shown_products(classifier):
    fresh, on_screen = classifier.predict("the second one"), classifier.predict("the second one", shown=True)
    assert on_screen.scores["ask_product"] > fresh.scores["ask_product"]
    assert classifier.predict("waterproof hiking jacket", shown=True).act in CARD_ACTS
    # The prior is exactly ACT_MIX * p(shown | act), renormalised.
    uniform = np.full((1, len(ACTS)), 1 / len(ACTS))
    assert posterior(uniform, True)[0] == pytest.approx(shown_prior(True) / shown_prior(True).sum())


def test_load_refuses_a_head_for_other_acts_or_another_encoder(tmp_path, embedder):
    with np.load(HEAD) as data:
        weights, bias, meta = data["weights"], data["bias"], data["meta"]
    assert HEAD.stat().st_size < 2_000_000 and json.loads(str(meta))["simmc_used"] is False
    other = tmp_path / "other_acts.npz"
    np.savez(other, acts=np.array(ACTS[::-1]), weights=weights, bias=bias)
    with pytest.raises(ValueError, match="acts"):
        ActClassifier.load(other, embedder=embedder)
    narrow = tmp_path / "narrow.npz"
    np.savez(narrow, acts=np.array(ACTS), weights=weights[:, 10:], bias=bias)
    with pytest.raises(ValueError, match="features"):
        ActClassifier.load(narrow, embedder=embedder)


class HashEmbedder:
    """A stand-in encoder: a fixed random unit vector per text (no model, instant)."""
    model_name, dim = "hash-test", 16

    def encode(self, texts):
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).normal(size=self.dim)
                for t in texts]
        v = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-9)


def _tiny_data(root):
    (root / "customer-service-intents").mkdir(parents=True)
    with open(root / "customer-service-intents" / "bitext_customer_service_8k.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flags", "utterance", "category", "intent"])
        for n in range(20):
            w.writerow(["B", f"where is my order number {n}", "ORDER", "track_order"])
    (root / "clinc150").mkdir()
    clinc = {"train": [[f"what is the weather in city {n}", "weather"] for n in range(10)]
             + [[f"hello there friend {n}", "greeting"] for n in range(10)],
             "val": [["weather in paris", "weather"], ["hello", "greeting"]],
             "oos_train": [["how tall is mount everest", "oos"]], "oos_val": [["who wrote hamlet", "oos"]]}
    (root / "clinc150" / "clinc150_train_val.json").write_text(json.dumps(clinc))
    (root / "esci-shopping-queries").mkdir()
    with open(root / "esci-shopping-queries" / "esci_200_with_text.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query", "product_id"])
        for n, q in enumerate(["hiking boots", "usb cable", "desk lamp", "yoga mat", "coffee grinder", "rain jacket"]):
            w.writerow([q, n])
    lines = [{"text": f"add the {i} one to my cart", "act": "cart"} for i in ("first", "second", "red", "blue")]
    lines += [{"text": f"is the {i} one waterproof?", "act": "ask_product"} for i in ("first", "second", "red", "blue")]
    lines += [{"text": t, "act": "refine"} for t in ("cheaper?", "in blue", "under $50", "not that brand")]
    (root / "shop.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_train_acts_on_a_tiny_dataset(tmp_path):
    _tiny_data(tmp_path)
    out = tmp_path / "models" / "head.npz"
    common = dict(utterances=tmp_path / "shop.jsonl", templates=None, embedder=HashEmbedder(), cache_dir=tmp_path / "cache")
    report = train_acts(tmp_path, out, **common)
    rows = report["rows"]
    assert {k: rows[k] for k in ("bitext", "clinc", "esci", "shop")} == {"bitext": 20, "clinc": 24, "esci": 6, "shop": 12}
    assert 0 < rows["clinc (keywords)"] <= 24 and 0 < rows["bitext (keywords)"] <= 20  # keyword forms, deduplicated
    assert report["simmc_used"] is False and report["per_act"]["compare"] == 0 and out.is_file()
    classifier = ActClassifier.load(out, embedder=HashEmbedder())
    assert classifier.predict("add the second one to my cart", shown=True).act == "cart"
    assert classifier.predict("where is my order number 3").act == "service"
    assert classifier.predict("which one is better?", shown=True).act != "compare"  # no training row: never wins
    # The inference path (dense part + gram columns) equals the training matrix times the weights.
    texts = ["add the second one to my cart", "cheaper?", "hello there"]
    vectors = HashEmbedder().encode(texts)
    logits = feature_matrix(vectors, texts) @ classifier.weights.T + classifier.bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert classifier.probabilities(vectors, texts) == pytest.approx(expected / expected.sum(axis=1, keepdims=True),
                                                                      abs=1e-5)
    held = train_acts(tmp_path, tmp_path / "held.npz", holdout=True, **common)
    assert held["rows"]["clinc"] == 21 and held["rows"]["bitext"] < 20  # CLINC val and oos_val left out
    assert any(p.name.endswith(".npy") for p in (tmp_path / "cache").iterdir())  # embeddings cached


def test_train_acts_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(ActDataError, match="bitext_customer_service_8k.csv"):
        train_acts(tmp_path, tmp_path / "head.npz", templates=None, embedder=HashEmbedder())


def test_keyword_forms_drop_the_words_of_a_sentence():
    from assistant.dialogue.acts import telegraphic
    from assistant.dialogue.train_acts import _terse_rows

    assert telegraphic("What's the weather like tomorrow?") == "weather like tomorrow"
    rows = _terse_rows([(["what's the weather like tomorrow?", "weather like tomorrow", "where is my order"],
                         ["out_of_scope", "out_of_scope", "service"])])
    assert rows == [("weather like tomorrow", "out_of_scope"), ("order", "service")]


def test_title_queries_are_keyword_searches_cut_from_titles():
    from assistant.dialogue.train_acts import title_queries

    titles = ["Gorilla Original Gorilla Glue, Waterproof Polyurethane Glue, 8 ounce Bottle, Brown",
              "DEWALT DW4524 4-1/2-Inch by 1/4-Inch Concrete/Masonry Grinding Wheel",
              "Scotch Super 33+ Vinyl Electrical Tape, 3/4 in x 66 ft, Black"] * 5
    queries = title_queries(titles, 20, seed=0)
    assert queries == title_queries(titles, 20, seed=0) and len(queries) == len(set(queries)) > 3
    words = {w for t in titles for w in t.lower().replace(",", " ").split()}
    for q in queries:
        parts = q.split()
        assert 2 <= len(parts) <= 4 and all(p in words or p in " ".join(titles).lower() for p in parts)
        assert parts[0] not in ("of", "by", "x") and parts[-1] not in ("of", "by", "ounce", "ft", "in")


def test_without_the_titles_file_there_is_no_titles_source(tmp_path):
    from assistant.dialogue.train_acts import load_titles

    assert load_titles(tmp_path) is None

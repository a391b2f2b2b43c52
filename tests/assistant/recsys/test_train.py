"""The predictor training path end to end on tiny data: metrics over all examples, the real Trainer with a tiny
random BERT (no download), checkpoint save/reload, the CLI on a tiny demo shop and its data errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.recsys.active import load_active_predictor
from assistant.recsys.data import load_dataset
from assistant.recsys.predictor import CrossEncoderPredictor, context_text
from assistant.recsys.train import (
    PairDataset,
    PredictorTrainConfig,
    classification_metrics,
    ensure_fast_predictor,
    run_predictor,
    train_cross_encoder,
)
from assistant.train import main


def _tokenizer():
    from transformers import AutoTokenizer

    from catalog.embed import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path())


def _tiny_bert(tokenizer, seed: int = 0):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=2)
    return BertForSequenceClassification(cfg)


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory, embedder):
    """A shop's data directory (catalog index + behaviour store) with 200 demo products and few events, so the
    tests stay fast: what `python app.py` trains on at first start."""
    from catalog.config import CatalogConfig
    from catalog.demo import generate_events, generate_products
    from catalog.events import EventStore
    from catalog.index import ProductIndex

    folder = tmp_path_factory.mktemp("shop")
    products = generate_products(200, seed=0)
    ProductIndex(CatalogConfig(data_dir=folder), embedder=embedder).upsert(products)
    store = EventStore(str(folder / "events.sqlite3"))
    store.append_many(generate_events(products, n_users=200, n_events=4000, seed=0))
    store.close()
    return folder


def test_metrics_are_over_all_examples_not_batch_averages():
    logits = np.array([2.0, -1.0, -1.0, 1.0, 1.0, 1.0, -2.0])
    labels = np.array([1, 0, 0, 0, 0, 0, 1])
    m = classification_metrics(logits, labels)
    assert m["accuracy"] == pytest.approx(3 / 7) and m["n"] == 7
    batch_means = [np.mean((logits[s:s + 3] > 0) == labels[s:s + 3]) for s in range(0, 7, 3)]
    assert np.mean(batch_means) != pytest.approx(3 / 7)  # what averaging per batch (3, 3, 1) would have reported
    two_class = classification_metrics(np.stack([np.zeros(7), logits], axis=1), labels)
    assert two_class["accuracy"] == m["accuracy"] and two_class["auc"] == pytest.approx(m["auc"])


def test_trainer_eval_metrics_cover_every_example(tmp_path):
    tok = _tokenizer()
    titles = [f"widget number {i}" for i in range(20)]
    pairs = [([i % 20, (i + 1) % 20], (i + 2) % 20, i % 2) for i in range(24)]
    train, val = PairDataset(tok, pairs, titles, titles, 32), PairDataset(tok, pairs[:7], titles, titles, 32)
    cfg = PredictorTrainConfig(data="", epochs=1, batch_size=8, eval_batch_size=3, evals_per_run=1)
    model, summary = train_cross_encoder(cfg, _tiny_bert(tok), tok, train, val, str(tmp_path), log=lambda s: None)
    ce = CrossEncoderPredictor(model, tok, titles, titles, max_length=32, batch_size=3)
    logodds = ce.pair_logits([context_text(titles, h) for h, _, _ in pairs[:7]], [titles[c] for _, c, _ in pairs[:7]])
    m = classification_metrics(logodds, np.array([y for _, _, y in pairs[:7]]))
    assert summary["n_val_pairs"] == 7
    assert summary["val_accuracy"] == pytest.approx(m["accuracy"]) and summary["val_log_loss"] == pytest.approx(m["log_loss"], rel=1e-4)
    assert summary["train_pairs_per_s"] > 0


def test_cross_encoder_trains_saves_reloads_and_scores(tiny_shop, tmp_path):
    tok = _tokenizer()
    out = tmp_path / "model"
    cfg = PredictorTrainConfig(data=str(tiny_shop), out=str(out), kind="both", max_train_pairs=160, max_val_pairs=60,
                               negatives=4, eval_users=10, batch_size=16, max_length=64, evals_per_run=2, tune_users=100)
    report = run_predictor(cfg, log=lambda s: None, model=_tiny_bert(tok), tokenizer=tok)
    assert report["cross_encoder"]["n_train_pairs"] > 0 and 0.0 <= report["cross_encoder"]["alpha"] <= 1.0
    assert (out / "cross_encoder" / "config.json").is_file() and (out / "features" / "model.joblib").is_file()
    assert list((out / "checkpoints").glob("checkpoint-*")) and (out / "tensorboard").is_dir()

    data, meta = load_dataset(str(tiny_shop))
    predictor, desc = load_active_predictor(str(out), item_meta=meta, item_text=data.item_text, device="cpu")
    # The active one is whichever validated better; the checkpoint itself must reload and score either way.
    ce_better = (report["cross_encoder"]["val_auc"] or 0.0) > (report["features"]["val"]["auc"] or 0.0)
    assert desc.startswith("fine-tuned cross-encoder" if ce_better else "fast feature model")
    predictor = CrossEncoderPredictor.load(str(out / "cross_encoder"), data.item_text, meta.titles, "cpu")
    cands = np.arange(50)
    s1 = predictor.score([(3, "purchase", 0.0), (7, "click", 1.0)], cands)
    s2 = predictor.score([(3, "purchase", 0.0), (7, "click", 1.0)], cands)
    assert s1.shape == (50,) and np.all(np.isfinite(s1)) and np.array_equal(s1, s2)


def test_cli_features_on_tiny_shop(tiny_shop, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["predictor", "--data", str(tiny_shop), "--kind", "features", "--out", str(out), "--eval-users", "10"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "features" in report and "cross_encoder" not in report
    assert report["features"]["val"]["auc"] > 0.5
    assert "fast feature model" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_cli_bad_data_folder_exits_2_without_traceback(tmp_path, capsys, make):
    folder = tmp_path / "data"
    if make == "empty":
        folder.mkdir()
    assert main(["predictor", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_first_start_trains_the_fast_predictor_once_and_says_which_is_active(tiny_shop, tmp_path):
    data, meta = load_dataset(str(tiny_shop))
    models = str(tmp_path / "models" / "predictor")
    messages: list[str] = []
    desc = ensure_fast_predictor(data, meta, models, log=messages.append)
    assert desc.startswith("fast feature model") and "val AUC" in desc and messages
    assert (tmp_path / "models" / "predictor" / "features" / "model.joblib").is_file()
    assert (tmp_path / "models" / "predictor" / "recommender.json").is_file()  # the tuned blend, for the shop
    messages.clear()
    assert ensure_fast_predictor(data, meta, models, log=messages.append) == desc and not messages  # reused
    fresh = data.__class__(**{**data.__dict__, "valid": [], "test": []})  # a new shop: nothing to validate on
    assert ensure_fast_predictor(fresh, meta, str(tmp_path / "other")).startswith("no purchase predictor")


def test_a_young_shop_starts_without_a_predictor_and_says_why(tmp_path):
    from assistant.recsys.data import shop_dataset
    from catalog.demo import generate_products
    from catalog.schema import Event

    products = generate_products(30, seed=0)
    events = [Event(f"u{u}", products[(u + i) % 30].id, "purchase", 1_700_000_000.0 + 10 * i) for u in range(3)
              for i in range(4)]
    rng = np.random.default_rng(0)
    data, meta = shop_dataset(products, rng.standard_normal((30, 8)).astype(np.float32), events)
    assert data.valid  # enough to try, far too little to learn
    messages: list[str] = []
    desc = ensure_fast_predictor(data, meta, str(tmp_path / "models"), log=messages.append)
    assert desc.startswith("no purchase predictor") and any("too little behaviour" in m for m in messages)


def test_the_sequence_predictor_trains_on_a_shops_data(tiny_shop, tmp_path):
    from assistant.recsys.active import active_predictor_kind, sequence_won
    from assistant.recsys.train_sequence import SequenceTrainConfig, run_sequence_predictor
    from assistant.recsys.transformer import TransformerConfig

    out = tmp_path / "predictor"
    cfg = SequenceTrainConfig(data=str(tiny_shop), out=str(out), progress=False,
                              transformer=TransformerConfig(dim=16, n_layers=1, max_epochs=2, eval_every=1))
    report = run_sequence_predictor(cfg, log=lambda s: None)
    assert 0.0 <= report["val"]["auc"] <= 1.0 and report["val"]["n"] > 0
    assert 0.0 <= report["alpha"] <= 1.0 and (out / "sequence" / "model.joblib").exists()
    assert (out / "recommender.json").exists() and (out / "sequence" / "transformer" / "model.pt").exists()
    meta = json.loads((out / "sequence" / "predictor.json").read_text())
    assert meta["val_ndcg10_hybrid"] == report["hybrid"]["ndcg@10"]
    assert (active_predictor_kind(str(out))[0] == "sequence") == sequence_won(meta)
    assert list((out / "tensorboard" / "sequence-seed0").glob("events.out.tfevents.*"))  # the training curves

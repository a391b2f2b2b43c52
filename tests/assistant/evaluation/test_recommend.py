"""The evaluation CLI on a tiny synthetic RecBole-style folder, the metrics, and a smoke run on the real data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from assistant.evaluation.cli import main
from assistant.evaluation.recommend import evaluate_recommend
from assistant.recsys.data import embedding_cache_path, load_recbole_folder
from assistant.recsys.features import split_item_text
from assistant.recsys.metrics import metrics_from_ranks, ranks_from_scores

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REAL_DATA = os.path.join(REPO, "..", "shared", "data", "amazon-scientific")


def _write_folder(root, name="Tiny", n_items=40, n_users=60, seed=0):
    """Sequences walk a ring of items (i -> i+1 mostly), so transitions/item-CF can beat popularity."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.text").write_text("item_id:token\ttext:token_seq\n" + "".join(
        f"A{i:03d}\tWidget {i} model {i % 5}. Tools Widgets. Brand{i % 4}. \n" for i in range(n_items)))
    (root / f"{name}.item2index").write_text("".join(f"A{i:03d}\t{i}\n" for i in range(n_items)))
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    train, valid, test = [header], [header], [header]
    for u in range(n_users):
        start = int(rng.integers(n_items))
        seq = [(start + j + int(rng.random() < 0.1)) % n_items for j in range(int(rng.integers(4, 8)))]
        for t in range(1, len(seq) - 2):
            train.append(f"{u}\t{' '.join(map(str, seq[:t]))}\t{seq[t]}\n")
        valid.append(f"{u}\t{' '.join(map(str, seq[:-2]))}\t{seq[-2]}\n")
        test.append(f"{u}\t{' '.join(map(str, seq[:-1]))}\t{seq[-1]}\n")
    (root / f"{name}.train.inter").write_text("".join(train))
    (root / f"{name}.valid.inter").write_text("".join(valid))
    (root / f"{name}.test.inter").write_text("".join(test))
    return root


def _fake_embeddings(folder, cache_dir, dim=8):
    """Pre-fill the embedding cache so the real sentence encoder is not loaded in unit tests."""
    data = load_recbole_folder(str(folder))
    e = np.random.default_rng(1).standard_normal((data.n_items, dim)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    path = embedding_cache_path(data, str(cache_dir))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, e)


def test_metrics_and_pessimistic_ties():
    assert ranks_from_scores(np.array([0.1, 0.9, 0.5]), 2) == 2
    assert ranks_from_scores(np.zeros(5), 3) == 5  # a constant scorer puts the target last, not first
    m = metrics_from_ranks(np.array([1, 3, 20]))
    assert m.hr10 == pytest.approx(2 / 3)
    assert m.ndcg10 == pytest.approx((1.0 + 1.0 / np.log2(4)) / 3)
    assert m.mrr == pytest.approx((1 + 1 / 3 + 1 / 20) / 3)
    assert split_item_text("A. B. C. Cat path. Brand. ") == ("A. B. C", "Cat path", "Brand")


def test_loader_reads_layout(tmp_path):
    data = load_recbole_folder(str(_write_folder(tmp_path / "d")))
    assert data.name == "Tiny" and data.n_items == 40 and len(data.test) == 60 and not data.padding
    seqs, full = data.train_sequences(), data.train_valid_sequences()
    row = data.test[0]
    assert full[row.user] == row.history  # train+valid is exactly the test history
    assert len(seqs[row.user]) == len(row.history) - 1


def test_cli_json_shape_and_table(tmp_path, capsys):
    folder = _write_folder(tmp_path / "d")
    _fake_embeddings(folder, tmp_path / "cache")
    rc = main(["recommend", "--data", str(folder), "--json", "--cache", str(tmp_path / "cache")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["methods"]) >= {"popularity", "item_cf", "user_knn", "transition", "content", "hybrid", "hybrid_no_repeat_prior"}
    for m in out["methods"].values():
        assert set(m) == {"hr@10", "ndcg@10", "mrr"} and all(0.0 <= v <= 1.0 for v in m.values())
    assert out["n_test_rows"] == 60 and set(out["tuned_weights"]) == {"pop", "knn", "user_knn", "transition", "content", "repeat"}
    assert out["tuned_weights_no_repeat_prior"]["repeat"] == 0.0
    assert out["methods"]["hybrid"]["ndcg@10"] > out["methods"]["popularity"]["ndcg@10"]
    assert "total_s" in out["timing_s"] and "config" in out

    rc = main(["recommend", "--data", str(folder), "--cache", str(tmp_path / "cache"), "--sample", "20"])
    text = capsys.readouterr().out
    assert rc == 0 and "NDCG@10" in text and "hybrid" in text and "20 of 60 test users" in text


def test_cli_with_sequence_model(tmp_path, capsys):
    folder = _write_folder(tmp_path / "d")
    _fake_embeddings(folder, tmp_path / "cache")
    rc = main(["recommend", "--data", str(folder), "--json", "--sequence", "--cache", str(tmp_path / "cache")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and "sequence" in out["methods"] and "sequence" in out["tuned_weights"]
    assert out["sequence_best_epoch"] >= 1


def test_reranker_hook_is_evaluated(tmp_path):
    folder = _write_folder(tmp_path / "d")
    _fake_embeddings(folder, tmp_path / "cache")

    class Constant:
        def score(self, history, candidates):
            return np.zeros(len(candidates))

    out = evaluate_recommend(str(folder), cache_dir=str(tmp_path / "cache"), rerankers={"const": (Constant(), 1.0)})
    # A re-ranker with no opinion ties all 50 candidates; pessimistic ties put the target below all of them.
    assert "hybrid+const" in out["methods"] and out["methods"]["hybrid+const"]["hr@10"] <= out["methods"]["hybrid"]["hr@10"]


def test_missing_files_give_clear_error_and_exit_code_2(tmp_path):
    folder = _write_folder(tmp_path / "d")
    os.remove(folder / "Tiny.valid.inter")
    os.remove(folder / "Tiny.item2index")
    proc = subprocess.run([sys.executable, "-m", "assistant.evaluate", "recommend", "--data", str(folder)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Tiny.valid.inter" in proc.stderr and "Tiny.item2index" in proc.stderr and "Traceback" not in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["recommend", "--data", str(empty)]) == 2
    assert main(["recommend", "--data", str(tmp_path / "nope")]) == 2


@pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="real data folder ../shared/data/amazon-scientific absent")
def test_real_scientific_sample(tmp_path, capsys):
    # Random embeddings keep this fast; the protocol and the collaborative parts are what is checked here.
    _fake_embeddings(REAL_DATA, tmp_path / "cache", dim=16)
    rc = main(["recommend", "--data", REAL_DATA, "--json", "--sample", "400", "--tune-users", "400",
                        "--cache", str(tmp_path / "cache")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_items"] == 4385 and out["n_test_users_total"] == 8442 and out["n_test_rows"] == 400
    assert out["methods"]["item_cf"]["ndcg@10"] > 2 * out["methods"]["popularity"]["ndcg@10"]
    assert out["methods"]["hybrid"]["ndcg@10"] > out["methods"]["popularity"]["ndcg@10"]

"""Training of the sequence purchase predictor (assistant/recsys/seq_predictor.py), CPU-sized: minutes, not hours.
The command line is `python -m assistant.train predictor --kind sequence --data DIR [--out DIR] [--seed N]`.

1. The hybrid is fit on train and its blend tuned on validation users (as the evaluation does), saved beside.
2. The next-item transformer is trained on every user's train sequence (full softmax at each position), early
   stopping on NDCG@10 of a sample of validation rows.
3. Each validation row (history -> next purchase, never a test row) gives the hybrid's top 50 plus the
   transformer's own top 20 outside it (the list rerank_top re-orders) with 0/1 labels and the predictor's features.
   With `nested_rows`, every user's last train step gives one more row the same way, one step earlier: a hybrid
   fit on train without each user's last train step (the "nested" split, the blend weights tuned above) and a
   transformer trained on those sequences for the early-stopped epoch count; these rows only add training rows
   to the re-ranker (split by user like the validation rows), every number below is measured on validation rows. The gradient-boosted re-ranker is cross-fitted over two halves of the validation
   users: out-of-fold scores give the validation AUC, NDCG@10 and the blend alpha, so no number is measured on
   rows its model was fit on. The saved re-ranker is then fit on all validation rows.
4. The transformer is refit on train + valid sequences (shop data: every sequence) for the epoch count early
   stopping chose, so it reads test-time histories as the hybrid (refit on train + valid) does.
"""
from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from assistant.recsys.build import build_recommender, save_weights
from assistant.recsys.data import DatasetError, LeaveOneOutDataset, is_shop_dir, item_vectors, load_dataset, sample_rows
from assistant.recsys.metrics import ALPHA_GRID
from assistant.recsys.predictor import zscore
from assistant.recsys.seq_predictor import SEQUENCE_DIR, SequencePredictor
from assistant.recsys.train import candidate_groups, classification_metrics, last_train_rows
from assistant.recsys.transformer import TransformerConfig, TransformerSeqModel


@dataclass
class SequenceTrainConfig:
    data: str
    out: str | None = None  # None: <data>/models/predictor for a shop, runs/predictor-<name> for RecBole
    tune_users: int = 2000  # validation rows that tune the hybrid's blend weights (the evaluation's default)
    early_stop_users: int = 2000  # validation rows whose NDCG@10 stops the transformer
    top_n: int = 50
    extra_candidates: int = 20  # the transformer's own best items outside the hybrid's top_n join the list
    nested_rows: bool = True  # re-ranker training rows also from each user's last train step (see step 3)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    cache_dir: str | None = None
    progress: bool = True
    seed: int = 0


def _fold(user: str, seed: int) -> int:
    """Which half of the validation users a user is in: stable across runs and processes."""
    return (zlib.crc32(user.encode()) + seed) % 2


def _all_sequences(data: LeaveOneOutDataset) -> list[list[int]]:
    seqs = data.train_valid_sequences()
    for row in data.test:
        full = row.history + [row.target]
        if len(full) > len(seqs.get(row.user, [])):
            seqs[row.user] = full
    return list(seqs.values())


def blended_metrics(groups: list, pred: list[np.ndarray], alpha: float) -> dict[str, float]:
    """NDCG@10 / HR@10 over validation rows when the top-n list is re-ordered by the z-blend (as rerank_top does);
    a row whose target is outside the list scores 0, as it does in the full ranking."""
    gains, hits = np.zeros(len(groups)), np.zeros(len(groups))
    for n, (g, p) in enumerate(zip(groups, pred)):
        labels = g[2]
        if not labels.any():
            continue
        b = alpha * zscore(p) + (1 - alpha) * zscore(g[4])  # g[4]: the hybrid's scores of the list
        t = b[labels == 1][0]
        rank = int((b > t).sum() + (b == t).sum())
        hits[n] = rank <= 10
        gains[n] = 1.0 / np.log2(rank + 1.0) if rank <= 10 else 0.0
    return {"ndcg@10": float(gains.mean()), "hr@10": float(hits.mean()), "n": len(groups)}


def _features(sp: SequencePredictor, contexts: list[tuple[list, int]], cfg: SequenceTrainConfig, padding: set[int]):
    """(groups with the hybrid's scores of each list appended, feature rows per group)."""
    groups = candidate_groups(sp.base.recommender, contexts, cfg.top_n, padding, cfg.progress, predictor=sp)
    X = [sp.features(g[0], g[1]) for g in groups]
    hyb = [x[:, sp.base.feature_names().index("blend")] for x in X]
    return [g + (h,) for g, h in zip(groups, hyb)], X


def nested_rows(data: LeaveOneOutDataset, vectors, meta, weights: dict, tcfg: TransformerConfig, epochs: int,
                cfg: SequenceTrainConfig) -> tuple[list, list, list]:
    """(rows, groups, features) one step earlier than validation: each user's last train step, scored by a hybrid
    and a transformer that never saw it (step 3 of the module docstring)."""
    rec = build_recommender(data.interactions("nested"), vectors, meta, data.item_ids, weights)
    seqs = [s[:-1] for s in data.train_sequences().values() if len(s) > 2]
    seq = TransformerSeqModel(tcfg, vectors).fit(seqs, epochs=max(epochs, 1))
    sp = SequencePredictor(seq, rec, meta, extra_candidates=cfg.extra_candidates)
    rows = list(last_train_rows(data).values())
    groups, X = _features(sp, [(r.typed_history(), r.target) for r in rows], cfg, data.padding)
    return rows, groups, X


def _cross_fit(seq, full, meta, rows, groups, X, seed: int, extra: tuple[list, list, list] = ([], [], [])):
    """Out-of-fold re-ranker scores over two halves of the validation users: AUC, the alpha curve, NDCG@10 of the
    hybrid and the blend, and (per half) the blend with alpha tuned on the other half. extra: more training rows
    (nested_rows), each used only by the half-model that does not score its user."""
    folds = np.array([_fold(r.user, seed) for r in rows])
    extra_folds = np.array([_fold(r.user, seed) for r in extra[0]])
    oof: list[np.ndarray] = [np.zeros(0)] * len(groups)
    for f in (0, 1):
        fit = [n for n in range(len(groups)) if folds[n] != f and groups[n][2].any()]
        more = [n for n in range(len(extra[1])) if extra_folds[n] != f and extra[1][n][2].any()]
        part = SequencePredictor(seq, full, meta, seed=seed).fit_features(
            np.vstack([X[n] for n in fit] + [extra[2][n] for n in more]),
            np.concatenate([groups[n][2] for n in fit] + [extra[1][n][2] for n in more]),
            [len(groups[n][2]) for n in fit] + [len(extra[1][n][2]) for n in more])
        for n in np.flatnonzero(folds == f):
            oof[n] = part.predict_features(X[n])
    val = classification_metrics(np.concatenate(oof), np.concatenate([g[2] for g in groups]))
    curve = {a: blended_metrics(groups, oof, a)["ndcg@10"] for a in ALPHA_GRID}
    alpha = float(max(ALPHA_GRID, key=lambda a: (curve[a], -abs(a - 0.5))))
    hybrid_m, blend_m = blended_metrics(groups, oof, 0.0), blended_metrics(groups, oof, alpha)
    # alpha chosen on one half, measured on the other: the blend's gain without any selection on its own rows.
    halves = {}
    for f in (0, 1):
        pick = [n for n in range(len(groups)) if folds[n] == f]
        other = [n for n in range(len(groups)) if folds[n] != f]
        a_f = max(ALPHA_GRID, key=lambda a: blended_metrics([groups[n] for n in other], [oof[n] for n in other], a)["ndcg@10"])
        halves[f] = {"alpha": a_f, "hybrid": blended_metrics([groups[n] for n in pick], [oof[n] for n in pick], 0.0)["ndcg@10"],
                     "blend": blended_metrics([groups[n] for n in pick], [oof[n] for n in pick], a_f)["ndcg@10"]}
    return val, curve, alpha, hybrid_m, blend_m, halves


def run_sequence_predictor(cfg: SequenceTrainConfig, log: Callable[[str], None] = print,
                           dataset: tuple[LeaveOneOutDataset, object] | None = None) -> dict:
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    data, meta = dataset or load_dataset(cfg.data)
    rows = [r for r in data.valid if r.history]
    if not rows:
        raise DatasetError(f"{data.name}: no validation rows (shoppers with 3+ steps): nothing to learn the blend on")
    out = cfg.out or (os.path.join(cfg.data, "models", "predictor") if is_shop_dir(cfg.data)
                      else os.path.join("runs", f"predictor-{data.name}"))
    vectors = item_vectors(data, cfg.cache_dir)

    t = time.perf_counter()
    full = build_recommender(data.interactions("train"), vectors, meta, data.item_ids)
    tune = sample_rows(rows, cfg.tune_users, 0)
    weights = full.tune_blend([r.typed_history() for r in tune], [r.target for r in tune])
    save_weights(out, weights, dataset=data.name, tuned_on_valid_rows=len(tune))
    timing["hybrid_s"] = time.perf_counter() - t
    log(f"{data.name}: hybrid blend tuned on {len(tune)} validation rows: {weights} (NDCG@10 {full.tuned_ndcg:.4f})")

    t = time.perf_counter()
    tcfg = TransformerConfig(**dict(asdict(cfg.transformer), seed=cfg.seed))
    es = sample_rows(rows, cfg.early_stop_users, cfg.seed + 1)
    seq = TransformerSeqModel(tcfg, vectors).fit(list(data.train_sequences().values()), [r.history for r in es],
                                                 [r.target for r in es], log=log,
                                                 tensorboard_dir=os.path.join(out, "tensorboard", f"sequence-seed{cfg.seed}"))
    timing["transformer_s"] = time.perf_counter() - t
    log(f"transformer: best epoch {seq.best_epoch}, early-stopping NDCG@10 {seq.best_valid_ndcg:.4f} "
        f"({timing['transformer_s']:.0f} s)")

    t = time.perf_counter()
    sp = SequencePredictor(seq, full, meta, seed=cfg.seed, extra_candidates=cfg.extra_candidates)
    groups, X = _features(sp, [(r.typed_history(), r.target) for r in rows], cfg, data.padding)
    timing["features_s"] = time.perf_counter() - t
    extra: tuple[list, list, list] = ([], [], [])
    if cfg.nested_rows:
        t = time.perf_counter()
        extra = nested_rows(data, vectors, meta, weights, tcfg, seq.best_epoch, cfg)
        timing["nested_rows_s"] = time.perf_counter() - t
        log(f"nested rows: {len(extra[1])} more re-ranker rows from last train steps ({timing['nested_rows_s']:.0f} s)")

    t = time.perf_counter()
    val, curve, alpha, hybrid_m, blend_m, halves = _cross_fit(seq, full, meta, rows, groups, X, cfg.seed, extra)
    keep = [n for n, g in enumerate(groups) if g[2].any()]
    more = [n for n, g in enumerate(extra[1]) if g[2].any()]
    sp.fit_features(np.vstack([X[n] for n in keep] + [extra[2][n] for n in more]),
                    np.concatenate([groups[n][2] for n in keep] + [extra[1][n][2] for n in more]),
                    [len(groups[n][2]) for n in keep] + [len(extra[1][n][2]) for n in more])
    timing["reranker_s"] = time.perf_counter() - t
    log(f"re-ranker: out-of-fold validation AUC {val['auc']:.4f} on {val['n']} candidates of {len(groups)} users; "
        f"alpha {alpha:g}; validation NDCG@10 hybrid {hybrid_m['ndcg@10']:.4f} -> hybrid+predictor "
        f"{blend_m['ndcg@10']:.4f}; alpha tuned on the other half: {halves}")

    t = time.perf_counter()
    refit = _all_sequences(data) if data.split_interactions is not None else list(data.train_valid_sequences().values())
    final = TransformerSeqModel(tcfg, vectors).fit(refit, epochs=max(seq.best_epoch, 1), log=log)
    final.best_epoch, final.best_valid_ndcg = seq.best_epoch, seq.best_valid_ndcg
    sp.seq_model = final
    timing["refit_s"] = time.perf_counter() - t
    sp.alpha = alpha
    sp.meta.update(val_auc=val["auc"], val_log_loss=val["log_loss"], val_accuracy=val["accuracy"], alpha=alpha,
                   val_ndcg10_blend=blend_m["ndcg@10"], val_ndcg10_hybrid=hybrid_m["ndcg@10"],
                   val_rows=len(groups), transformer_early_stop_ndcg10=seq.best_valid_ndcg,
                   transformer_best_epoch=seq.best_epoch, dataset=data.name, seed=cfg.seed,
                   nested_rows=len(extra[1]))
    sp.save(os.path.join(out, SEQUENCE_DIR))
    timing["total_s"] = time.perf_counter() - t0
    report = {"config": asdict(cfg), "out": out, "dataset": data.name, "blend_weights": weights,
              "val": val, "alpha": alpha, "alpha_curve_ndcg@10": curve, "hybrid": hybrid_m, "blend": blend_m,
              "halves": halves, "transformer_history": seq.history, "timing_s": {k: round(v, 1) for k, v in timing.items()}}
    with open(os.path.join(out, "report_sequence.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
    log(f"saved to {os.path.join(out, SEQUENCE_DIR)} ({timing['total_s']:.0f} s)")
    return report

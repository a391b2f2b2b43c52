"""Next-purchase recommendation on a RecBole-style folder, the published leave-one-out protocol: fit on train, tune
the blend weights on (a sample of) valid, refit on train+valid with those weights, rank all items for each test row
(assistant/recsys/data.py reads the folder; the recommender comes from the one builder, assistant/recsys/build.py).

    python -m assistant.evaluate recommend --data ../shared/data/amazon-scientific
    python -m assistant.evaluate recommend --data ../shared/data/amazon-scientific --json --sample 1000 --seed 0
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

from assistant.evaluation.report import report
from assistant.recsys.build import build_recommender
from assistant.recsys.data import DatasetError, LeaveOneOutDataset, item_vectors, load_recbole_folder, sample_rows
from assistant.recsys.features import ItemMeta, split_item_text
from assistant.recsys.metrics import metrics_from_ranks, ranks_from_scores
from assistant.recsys.predictor import (
    CROSS_ENCODER_DIR,
    FEATURES_DIR,
    CrossEncoderPredictor,
    FeaturePredictor,
    Predictor,
    rerank_top,
)
from assistant.recsys.seq_predictor import SEQUENCE_DIR, SequencePredictor
from assistant.recsys.sequence import SequenceConfig, SequenceModel

SINGLE = {"popularity": "pop", "item_cf": "knn", "user_knn": "user_knn", "transition": "transition", "content": "content"}


def evaluate_recommend(
    data_dir: str,
    sample: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    tune_users: int = 2000,
    sequence: bool = False,
    rerankers: dict[str, tuple[Predictor, float]] | None = None,
    predictor_dir: str | list[str] | None = None,
    cross_encoder: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """Run the whole protocol and return {"methods": {name: metrics}, "config": ..., "timing_s": ...}.
    rerankers: name -> (predictor, alpha), blended into the hybrid's top 50 (assistant.recsys.predictor.rerank_top).
    predictor_dir: trained predictors (python -m assistant.train predictor --out DIR); its fast feature model is
    blended in with the alpha tuned on validation ("hybrid+fast_predictor"), its sequence predictor
    ("hybrid+predictor"), and with cross_encoder also the fine-tuned cross-encoder ("hybrid+finetuned_predictor").
    Several dirs (e.g. two seeds): the first gives those rows, each further dir's sequence predictor a row
    "hybrid+predictor@<dir name>"."""
    t_start = time.perf_counter()
    timing: dict[str, float] = {}
    data = load_recbole_folder(data_dir)
    log(f"{data.name}: {data.n_items} items, {len(data.test)} test users")
    t = time.perf_counter()
    vectors = item_vectors(data, cache_dir=cache_dir, progress=progress)
    timing["embeddings_s"] = time.perf_counter() - t
    meta = _meta(data)
    tuned = _tune(data, vectors, meta, tune_users, seed, sequence, timing, log)

    # Refit on train+valid with the tuned weights; rank all items for every (sampled) test row.
    t = time.perf_counter()
    seq_model = None
    if sequence:
        seq_model = SequenceModel(tuned["seq_config"], vectors).fit(list(data.train_valid_sequences().values()),
                                                                     epochs=tuned["seq_best_epoch"])
        timing["sequence_refit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rec = build_recommender(data.interactions("train_valid"), vectors, meta, data.item_ids, tuned["weights"], seq_model)
    timing["fit_s"] = time.perf_counter() - t
    rows = sample_rows(data.test, sample, seed)
    rerankers = dict(rerankers or {})
    dirs = [predictor_dir] if isinstance(predictor_dir, str) else list(predictor_dir or [])
    for n, folder in enumerate(dirs):
        found = _load_predictors(folder, data, meta, rec, cross_encoder, log, first=n == 0)
        rerankers.update(found if n == 0 else {f"predictor@{os.path.basename(os.path.normpath(folder))}": found["predictor"]})
    t = time.perf_counter()
    ranks = _rank_test_rows(data, rec, rows, tuned["no_repeat"], rerankers, sequence, progress, log)
    timing["test_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t_start
    return {
        "dataset": data.name, "n_items": data.n_items, "n_test_rows": len(rows), "n_test_users_total": len(data.test),
        "sample": sample, "seed": seed,
        "methods": {name: {k: v for k, v in metrics_from_ranks(r).as_dict().items() if k != "n"} for name, r in ranks.items()},
        "tuned_weights": tuned["weights"], "tuned_weights_no_repeat_prior": tuned["no_repeat"],
        "valid_ndcg@10_no_repeat_prior": tuned["no_repeat_ndcg"], "tune_users": tuned["tune_users"],
        "valid_ndcg@10_tuned": tuned["valid_ndcg"], "config": asdict(rec.config),
        "sequence_config": asdict(tuned["seq_config"]) if tuned["seq_config"] else None,
        "sequence_best_epoch": tuned["seq_best_epoch"],
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
    }


def _meta(data: LeaveOneOutDataset) -> ItemMeta:
    titles, categories, brands = zip(*[split_item_text(t) for t in data.item_text]) if data.n_items else ((), (), ())
    return ItemMeta(list(titles), np.full(data.n_items, np.nan), list(brands), list(categories))


def _tune(data: LeaveOneOutDataset, vectors: np.ndarray, meta: ItemMeta, tune_users: int, seed: int, sequence: bool,
          timing: dict, log) -> dict:
    """Fit on train, pick the sequence model's epoch count and tune the blend on validation users (never test)."""
    tune_rows = [r for r in sample_rows(data.valid, tune_users, seed) if r.history]
    histories, targets = [r.typed_history() for r in tune_rows], [r.target for r in tune_rows]
    seq_model, seq_config = None, None
    if sequence:
        t = time.perf_counter()
        seq_config = SequenceConfig(seed=seed)
        seq_model = SequenceModel(seq_config, vectors).fit(list(data.train_sequences().values()),
                                                           [r.history for r in tune_rows], targets, log=log)
        timing["sequence_train_s"] = time.perf_counter() - t
        log(f"sequence model: best epoch {seq_model.best_epoch}, valid NDCG@10 {seq_model.best_valid_ndcg:.4f}")
    t = time.perf_counter()
    rec = build_recommender(data.interactions("train"), vectors, meta, data.item_ids, sequence_model=seq_model)
    # The same blend with the repeat prior pinned at 0, so the table shows what demoting seen items adds.
    no_repeat = dict(rec.tune_blend(histories, targets, fixed={"repeat": 0.0}))
    no_repeat_ndcg = rec.tuned_ndcg
    weights = dict(rec.tune_blend(histories, targets))
    timing["tune_s"] = time.perf_counter() - t
    log(f"tuned blend weights on {len(tune_rows)} validation users: {weights} (valid NDCG@10 {rec.tuned_ndcg:.4f})")
    return {"weights": weights, "no_repeat": no_repeat, "no_repeat_ndcg": no_repeat_ndcg, "valid_ndcg": rec.tuned_ndcg,
            "tune_users": len(tune_rows), "seq_config": seq_config,
            "seq_best_epoch": seq_model.best_epoch if seq_model else None}


def _rank_test_rows(data: LeaveOneOutDataset, rec, rows, no_repeat: dict[str, float],
                    rerankers: dict[str, tuple[Predictor, float]], sequence: bool, progress: bool, log) -> dict[str, np.ndarray]:
    """The target's rank in every method's full ranking, per test row; all methods read one set of component scores."""
    single = dict(SINGLE, **({"sequence": "sequence"} if sequence else {}))
    names = list(single) + ["hybrid_no_repeat_prior", "hybrid"] + [f"hybrid+{n}" for n in rerankers]
    ranks = {name: np.empty(len(rows), dtype=np.int64) for name in names}
    pad = np.array(sorted(data.padding), dtype=np.int64)

    def rank(scores: np.ndarray, target: int) -> int:
        scores = scores.astype(np.float64)  # a copy: padding is masked in place
        if pad.size:
            scores[pad] = -np.inf
        return ranks_from_scores(scores, target)

    for n, row in enumerate(rows):
        hist = row.typed_history()
        parts = rec.component_scores(hist)
        for name, comp in single.items():
            ranks[name][n] = rank(parts[comp], row.target)
        ranks["hybrid_no_repeat_prior"][n] = rank(sum(no_repeat.get(c, 0.0) * parts[c].astype(np.float64)
                                                      for c in parts if c in no_repeat), row.target)
        hybrid = rec.score_all(hist).astype(np.float64)
        if pad.size:
            hybrid[pad] = -np.inf
        ranks["hybrid"][n] = ranks_from_scores(hybrid, row.target)
        for rname, (predictor, alpha) in rerankers.items():
            ranks[f"hybrid+{rname}"][n] = ranks_from_scores(rerank_top(hybrid, hist, predictor, 50, alpha), row.target)
        if progress and n % 2000 == 0:
            log(f"  {n}/{len(rows)} test rows")
    return ranks


def _load_predictors(predictor_dir: str, data: LeaveOneOutDataset, meta: ItemMeta, rec, cross_encoder: bool,
                     log, first: bool = True) -> dict[str, tuple[Predictor, float]]:
    """The saved predictors, attached to the recommender refit on train+valid, each with its tuned blend (from a
    further dir only the sequence predictor)."""
    out: dict[str, tuple[Predictor, float]] = {}
    seq_dir = os.path.join(predictor_dir, SEQUENCE_DIR)
    if os.path.isdir(seq_dir):
        sp = SequencePredictor.load(seq_dir, rec, meta)
        out["predictor"] = (sp, sp.alpha)
        log(f"sequence predictor from {seq_dir}: alpha {sp.alpha}, val AUC {sp.meta.get('val_auc')}")
    elif not first:
        raise DatasetError(f"no sequence predictor in {seq_dir}")
    features = os.path.join(predictor_dir, FEATURES_DIR)
    if first and os.path.isdir(features):
        fast = FeaturePredictor.load(features, rec, meta)
        out["fast_predictor"] = (fast, fast.alpha)
        log(f"fast predictor from {features}: alpha {fast.alpha}, val AUC {fast.meta.get('val_auc')}")
    ce_dir = os.path.join(predictor_dir, CROSS_ENCODER_DIR)
    if first and cross_encoder and os.path.isdir(ce_dir):
        ce = CrossEncoderPredictor.load(ce_dir, data.item_text, meta.titles)
        out["finetuned_predictor"] = (ce, ce.alpha)
        log(f"fine-tuned predictor from {ce_dir}: alpha {ce.alpha}, val AUC {ce.meta.get('val_auc')}")
    if not out:
        raise DatasetError(f"no trained predictor in {predictor_dir}; run python -m assistant.train predictor first")
    return out


def format_table(result: dict) -> str:
    lines = [f"{result['dataset']}: full ranking over {result['n_items']} items, "
             f"{result['n_test_rows']} of {result['n_test_users_total']} test users",
             f"{'method':<22}{'HR@10':>9}{'NDCG@10':>10}{'MRR':>9}"]
    for name, m in result["methods"].items():
        lines.append(f"{name:<22}{m['hr@10']:>9.4f}{m['ndcg@10']:>10.4f}{m['mrr']:>9.4f}")
    lines.append("tuned blend weights (on valid): " + ", ".join(f"{k}={v:g}" for k, v in result["tuned_weights"].items())
                 + f"  (valid NDCG@10 {result['valid_ndcg@10_tuned']:.4f} on {result['tune_users']} users)")
    lines.append("  without repeat prior: " + ", ".join(f"{k}={v:g}" for k, v in result["tuned_weights_no_repeat_prior"].items()))
    lines.append("time: " + ", ".join(f"{k}={v:.1f}" for k, v in result["timing_s"].items()))
    return "\n".join(lines)


def run_recommend(args: argparse.Namespace) -> int:
    return report(args, lambda log: evaluate_recommend(
        args.data, sample=args.sample, seed=args.seed, cache_dir=args.cache, tune_users=args.tune_users,
        sequence=args.sequence, predictor_dir=args.predictors, cross_encoder=args.cross_encoder,
        progress=not args.json, log=log), format_table, (DatasetError,))


def add_recommend_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("recommend", help="next-item recommendation, leave-one-out on a RecBole-style folder")
    p.add_argument("--data", required=True, help="folder with <Name>.text, .item2index, .train/.valid/.test.inter")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.add_argument("--sample", type=int, default=None, help="evaluate a random sample of N test users (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="cache dir for item embeddings (default ~/.cache/shop-assistant)")
    p.add_argument("--tune-users", type=int, default=2000, help="validation users used to tune the blend weights")
    p.add_argument("--predictors", default=None, metavar="DIR", nargs="+",
                   help="add hybrid + sequence predictor (hybrid+predictor), + fast predictor (and, with "
                        "--cross-encoder, + fine-tuned predictor) from DIR; further DIRs (other seeds): their "
                        "sequence predictor as hybrid+predictor@<DIR name>")
    p.add_argument("--cross-encoder", action="store_true",
                   help="also re-rank with the fine-tuned cross-encoder (slow on CPU: seconds per user)")
    p.add_argument("--sequence", action="store_true",
                   help="also train the GRU next-item model (CPU, minutes) and blend it in; off by default: on "
                        "Scientific the tuned blend gave it weight 0")
    p.set_defaults(func=run_recommend)



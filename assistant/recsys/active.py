"""Which purchase predictor the shop serves: the one that won on validation. Read from a model folder that
`python -m assistant.train predictor` wrote (features/, cross_encoder/, sequence/).

    predictor, description = load_active_predictor("runs/predictor-Scientific", recommender, item_meta)
    order = rerank_top(recommender.score_all(history), history, predictor, top_n=50, alpha=predictor.alpha)

The rule: the sequence predictor is active when its blend beat the hybrid alone on validation NDCG@10 (measured
out of fold, see assistant/recsys/train_sequence.py): it is the only one that earned its place in the ranking
there. Otherwise the fine-tuned cross-encoder when its validation AUC beats the fast feature model's (a CPU-budget
fine-tune can end near chance, and then it only costs seconds per shopper), else the fast feature model.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

from assistant.recsys.predictor import (
    CROSS_ENCODER_DIR,
    FEATURES_DIR,
    META_FILE,
    CrossEncoderPredictor,
    FeaturePredictor,
    describe,
)
from assistant.recsys.recommend import HybridRecommender
from assistant.recsys.seq_predictor import SEQUENCE_DIR, SequencePredictor


def _read_meta(folder: str) -> dict | None:
    path = os.path.join(folder, META_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sequence_won(meta: dict | None) -> bool:
    """Whether a sequence predictor's validated blend beat the hybrid alone on the same validation rows."""
    if not meta or meta.get("val_ndcg10_blend") is None or meta.get("val_ndcg10_hybrid") is None:
        return False
    return float(meta["val_ndcg10_blend"]) > float(meta["val_ndcg10_hybrid"])


def active_predictor_kind(model_dir: str) -> tuple[str | None, dict | None]:
    """("sequence" | "cross-encoder" | "features" | None, its metadata), by the rule in the module docstring."""
    seq_dir = os.path.join(model_dir, SEQUENCE_DIR)
    ce_dir, feat_dir = os.path.join(model_dir, CROSS_ENCODER_DIR), os.path.join(model_dir, FEATURES_DIR)
    seq_meta = _read_meta(seq_dir) if os.path.isfile(os.path.join(seq_dir, "model.joblib")) else None
    if sequence_won(seq_meta):
        return "sequence", seq_meta
    ce_meta = _read_meta(ce_dir) if os.path.isfile(os.path.join(ce_dir, "config.json")) else None
    feat_meta = _read_meta(feat_dir) if os.path.isfile(os.path.join(feat_dir, "model.joblib")) else None
    if ce_meta is not None and (feat_meta is None or (ce_meta.get("val_auc") or 0.0) > (feat_meta.get("val_auc") or 0.0)):
        return "cross-encoder", ce_meta
    if feat_meta is not None:
        return "features", feat_meta
    return None, None


def active_predictor_description(model_dir: str) -> str:
    """What the app shows on /agent/: which predictor re-ranks recommendations, without loading it."""
    kind, meta = active_predictor_kind(model_dir)
    return describe(meta) if kind else f"no purchase predictor in {model_dir}: recommendations use the hybrid ranking alone"


def load_active_predictor(model_dir: str, recommender: HybridRecommender | None = None, item_meta=None,
                          item_text: Sequence[str] | None = None, device: str | None = None):
    """(predictor, description) for the predictor active_predictor_kind picks, or (None, why). Pass the
    recommender/item metadata/texts to score with it."""
    kind, _ = active_predictor_kind(model_dir)
    if kind == "sequence":
        p = SequencePredictor.load(os.path.join(model_dir, SEQUENCE_DIR), recommender, item_meta)
        return p, describe(p.meta)
    if kind == "cross-encoder":
        titles = getattr(item_meta, "titles", None)
        p = CrossEncoderPredictor.load(os.path.join(model_dir, CROSS_ENCODER_DIR), item_text, titles, device)
        return p, describe(p.meta)
    if kind == "features":
        p = FeaturePredictor.load(os.path.join(model_dir, FEATURES_DIR), recommender, item_meta)
        return p, describe(p.meta)
    return None, active_predictor_description(model_dir)

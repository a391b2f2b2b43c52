"""The one way a HybridRecommender is built. Training, evaluation and the shop all call `build_recommender`, and
the blend weights training tunes on validation are saved beside the predictor (`save_weights`) and loaded by the
shop (`load_weights`), so the shop scores with exactly the recommender its predictor was trained and measured
with: same interactions (typed events, see assistant/recsys/data.py), same item vectors, same features, same
weights.

    rec = build_recommender(data.interactions("train"), item_vectors(data), meta, data.item_ids)
    weights = rec.tune_blend(histories, targets); save_weights(model_dir, weights)
    shop_rec = shop_recommender(data, meta, model_dir)      # data.interactions("all") + the saved weights
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from assistant.recsys.data import Interaction, LeaveOneOutDataset
from assistant.recsys.features import ItemMeta, item_features
from assistant.recsys.recommend import HybridRecommender, RecommenderConfig

WEIGHTS_FILE = "recommender.json"


def build_recommender(interactions: Sequence[Interaction], vectors: np.ndarray, meta: ItemMeta, item_ids: Sequence[str],
                      weights: dict[str, float] | None = None, sequence_model: object | None = None) -> HybridRecommender:
    config = RecommenderConfig(weights=dict(weights)) if weights else RecommenderConfig()
    return HybridRecommender(config).fit(interactions, vectors, item_features(meta), list(item_ids), sequence_model)


def save_weights(model_dir: str, weights: dict[str, float], **info: object) -> None:
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, WEIGHTS_FILE), "w", encoding="utf-8") as f:
        json.dump({"weights": weights, **info}, f, indent=2)


def load_weights(model_dir: str) -> dict[str, float] | None:
    """The tuned blend weights saved by training, or None (the defaults) when nothing was trained yet."""
    path = os.path.join(model_dir, WEIGHTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return {str(k): float(v) for k, v in json.load(f)["weights"].items()}


def shop_recommender(data: LeaveOneOutDataset, meta: ItemMeta, model_dir: str) -> HybridRecommender:
    """What the shop serves: every stored event, the index's vectors, the weights training tuned."""
    if data.vectors is None:
        raise ValueError("a shop dataset carries its index vectors; this one has none")
    return build_recommender(data.interactions("all"), data.vectors, meta, data.item_ids, load_weights(model_dir))

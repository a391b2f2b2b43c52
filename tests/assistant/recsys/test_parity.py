"""Train/serve parity: the shop serves exactly the recommender its purchase predictor was trained and measured with.
Training saves the tuned blend weights beside the predictor; the shop builds its recommender through the same builder
(assistant/recsys/build.py) from the same typed events and index vectors, loads those weights, and so the predictor
computes the same features and scores offline and in the shop."""
from __future__ import annotations

import numpy as np

from assistant.recsys.build import load_weights, shop_recommender
from assistant.recsys.data import load_dataset
from assistant.recsys.predictor import FEATURES_DIR, FeaturePredictor
from assistant.recsys.train import ensure_fast_predictor
from assistant.reply.template import TemplateBackend
from assistant.serving.shop import load_shop
from catalog.config import CatalogConfig
from catalog.index import ProductIndex
from tests.assistant.recsys.test_train import tiny_shop  # noqa: F401 (a fixture)


def test_a_predictor_scores_the_same_features_offline_and_in_the_shop(tiny_shop, embedder):  # noqa: F811
    config = CatalogConfig(data_dir=tiny_shop)
    shop = load_shop(config, backend=TemplateBackend(), build_demo=False, log=lambda s: None,
                     index=ProductIndex(config, embedder=embedder), prepare=ensure_fast_predictor)
    models = str(tiny_shop / "models" / "predictor")
    weights = load_weights(models)
    assert shop.predictor is not None and shop.predictor.kind == "features"
    assert weights and shop.recommender.config.weights == weights  # tuned by training, loaded by the shop
    assert shop.predictor.recommender is shop.recommender  # the predictor reads the shop's live recommender

    # Offline, as the evaluation reads it: the dataset of the same data dir, the one builder, the saved predictor.
    data, meta = load_dataset(str(tiny_shop))
    offline_rec = shop_recommender(data, meta, models)
    offline = FeaturePredictor.load(f"{models}/{FEATURES_DIR}", offline_rec, meta)
    users = [row.user for row in data.test[:20]]
    assert users
    for user in users:
        history = shop.recommender.history_of(user)
        assert history == offline_rec.history_of(user)  # typed events with their timestamps, not positions
        candidates = np.argsort(-offline_rec.score_all(history))[:50]
        assert np.array_equal(shop.predictor.features(history, candidates), offline.features(history, candidates))
        assert np.array_equal(shop.predictor.score(history, candidates), offline.score(history, candidates))

"""Recommendation: the hybrid recommender (recommend.py, sequence.py), purchase predictors (predictor.py), item
features (features.py), leave-one-out datasets of a RecBole folder or a shop (data.py), the one recommender builder
(build.py), ranking metrics (metrics.py) and training (train.py).

May import only catalog (and itself). Serving uses the builder and the predictors, never train.py: the app's
first-start training is passed in from its entry point.
"""

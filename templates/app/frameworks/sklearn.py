"""scikit-learn models (any estimator or Pipeline) saved with joblib."""

import joblib

from frameworks import Predictor


def load(path, device):
    model = joblib.load(path)
    return Predictor(model.predict, getattr(model, "n_features_in_", None))

"""LightGBM boosters saved as text model files."""

import lightgbm
from settings import THREADS

from frameworks import Predictor


def load(path, device):
    booster = lightgbm.Booster(model_file=path)
    return Predictor(
        lambda X: booster.predict(X, num_threads=THREADS, validate_features=False),
        booster.num_feature(),
    )

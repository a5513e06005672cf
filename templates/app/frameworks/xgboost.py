"""XGBoost boosters saved with save_model (JSON or UBJSON)."""

import xgboost
from settings import THREADS

from frameworks import Predictor


def load(path, device):
    booster = xgboost.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": THREADS, "device": device})
    # Predicting straight from the array skips building a DMatrix per call. Rows arrive in
    # the spec's feature order, and the server checks the width against `num_features`.
    return Predictor(
        lambda X: booster.inplace_predict(X, validate_features=False), booster.num_features()
    )

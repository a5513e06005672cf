"""LightGBM boosters saved as text model files."""

import lightgbm
from settings import THREADS

from frameworks import Predictor, binary


def load(path, device):
    booster = lightgbm.Booster(model_file=path)
    predictor = Predictor(
        lambda X: booster.predict(X, num_threads=THREADS, validate_features=False),
        booster.num_feature(),
    )
    objective = _objective(path)
    if objective == "binary":
        predictor.proba = lambda X: binary(predictor.predict(X))
        predictor.classes = [0, 1]
    elif objective in ("multiclass", "multiclassova"):
        predictor.proba = predictor.predict
        predictor.classes = list(range(booster.num_model_per_iteration()))
    else:
        predictor.no_proba = f"objective {objective} gives no class probabilities"
    return predictor


def _objective(path):
    """The objective's name from the model file's header (`objective=binary sigmoid:1`)."""
    with open(path) as f:
        for line in f:
            if line.startswith("objective="):
                return line.split("=", 1)[1].split()[0]
            if line.startswith("Tree="):
                break
    return "unknown"

"""Predictions into JSON."""

import numpy as np
import orjson
from frameworks import ModelError


def _default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def dumps(value):
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def probabilities(predictor):
    """predict(X) -> one {"classes": [...], "scores": [...]} per row (the Vertex AI shape of
    a classification), or a ModelError saying why the model cannot give them."""
    if predictor.proba is None:
        raise ModelError(f'output = "proba": {predictor.no_proba}')
    classes = predictor.classes

    def predict(X):
        scores = predictor.proba(X)
        rows = scores.tolist() if isinstance(scores, np.ndarray) else scores
        return [{"classes": classes, "scores": row} for row in rows]

    return predict

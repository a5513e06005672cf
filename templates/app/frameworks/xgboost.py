"""XGBoost boosters saved with save_model (JSON or UBJSON)."""

import json

import numpy as np
import xgboost
from settings import THREADS

from frameworks import Predictor, binary


def load(path, device):
    booster = xgboost.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": THREADS, "device": device})
    # Predicting straight from the array skips building a DMatrix per call. Rows arrive in
    # the spec's feature order, and the server checks the width against `num_features`.
    predictor = Predictor(
        lambda X: booster.inplace_predict(X, validate_features=False), booster.num_features()
    )
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective == "binary:logistic":
        predictor.proba = lambda X: binary(predictor.predict(X))
        predictor.classes = [0, 1]
    elif objective == "multi:softprob":
        predictor.proba = predictor.predict
    elif objective == "multi:softmax":  # predicts labels: the probabilities from margins
        predictor.proba = lambda X: softmax(
            booster.inplace_predict(X, predict_type="margin", validate_features=False)
        )
    else:
        predictor.no_proba = f"objective {objective} gives no class probabilities"
    if objective.startswith("multi:"):
        classes = json.loads(booster.save_config())["learner"]["learner_model_param"]
        predictor.classes = list(range(int(classes["num_class"])))
    return predictor


def softmax(margins):
    e = np.exp(margins - margins.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

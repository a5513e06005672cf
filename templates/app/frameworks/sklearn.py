"""scikit-learn models (any estimator or Pipeline) saved with joblib."""

import joblib

from frameworks import Predictor


def load(path, device):
    model = joblib.load(path)
    predictor = Predictor(model.predict, getattr(model, "n_features_in_", None))
    # A Pipeline has predict_proba only when its last step does.
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        predictor.proba = model.predict_proba
        predictor.classes = model.classes_.tolist()
    else:
        predictor.no_proba = f"{type(model).__name__} has no predict_proba: it is no classifier"
    return predictor

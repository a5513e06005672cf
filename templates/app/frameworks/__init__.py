"""Model frameworks, one module each: `load(path, device)` returns a Predictor.

A module is imported only when the service uses its framework, so a worker loads the one
model library it serves and no other.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass


class ModelError(Exception):
    """The model file cannot serve this service's features."""


class LoadFailed(Exception):
    """The service's own code failed to load the model: the process stays up and unready."""


@dataclass
class Predictor:
    """A loaded model. `predict(X)` takes the rows' input (a float matrix, a DataFrame, or a
    custom handler's instances) and returns one prediction per row; `width` is the number of
    features the model takes, where its file says. `proba(X)`, where the model gives class
    probabilities, returns one row of scores per row, in the order of `classes` (labels as
    the model knows them); where it gives none, `no_proba` says why. Unless `batchable`, each
    request's rows get a call of their own: in the model's thread, or awaited on the event
    loop when `predict` is a coroutine function."""

    predict: Callable
    width: int | None = None
    batchable: bool = True
    proba: Callable | None = None
    classes: list | None = None
    no_proba: str = "the model gives no class probabilities"


def binary(p):
    """Scores of both classes, [P(0), P(1)] per row, from P(1) per row."""
    import numpy as np

    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.column_stack((1.0 - p, p))


def load(framework, path, device):
    try:
        module = importlib.import_module(f"frameworks.{framework}")
    except ModuleNotFoundError as e:
        if e.name != f"frameworks.{framework}":
            raise
        raise ModelError(f"unknown framework {framework!r}") from None
    return module.load(path, device)

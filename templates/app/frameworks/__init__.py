"""Model frameworks, one module each: `load(path, device)` returns a Predictor.

A module is imported only when the service uses its framework, so a worker loads the one
model library it serves and no other.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass


class ModelError(Exception):
    """The model file cannot serve this service's features."""


@dataclass
class Predictor:
    """A loaded model. `predict(X)` takes a float matrix, one row per instance, and returns
    one prediction per row; `width` is the number of features the model takes, where its
    file says."""

    predict: Callable
    width: int | None = None


def load(framework, path, device):
    try:
        module = importlib.import_module(f"frameworks.{framework}")
    except ModuleNotFoundError as e:
        if e.name != f"frameworks.{framework}":
            raise
        raise ModelError(f"unknown framework {framework!r}") from None
    return module.load(path, device)

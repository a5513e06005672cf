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
    """A loaded model. `predict(X)` takes a float matrix, one row per instance, and returns
    one prediction per row; `width` is the number of features the model takes, where its
    file says. Unless `batchable`, each request's rows get a call of their own: in the
    model's thread, or awaited on the event loop when `predict` is a coroutine function."""

    predict: Callable
    width: int | None = None
    batchable: bool = True


def load(framework, path, device):
    try:
        module = importlib.import_module(f"frameworks.{framework}")
    except ModuleNotFoundError as e:
        if e.name != f"frameworks.{framework}":
            raise
        raise ModelError(f"unknown framework {framework!r}") from None
    return module.load(path, device)

"""The service's own model code: a class in a Python file beside the spec (`handler`).

The contract: `Model()` takes no arguments; `load(self, path)` runs once per process with
the model source (None without one) before the service turns ready; `predict(self,
instances)`, plain or `async def`, returns one prediction per instance. With a class
attribute `batchable = True`, one call may take the instances of several concurrent
requests. A ValueError from `predict` is the client's mistake: 422 with its message.
"""

import importlib.util
import inspect
import os
import sys
from contextlib import contextmanager

import numpy as np
from inputs import BadRequest
from settings import HANDLER, HANDLER_DIR

from frameworks import LoadFailed, ModelError, Predictor


def load(path, device):
    try:
        model = instantiate()
        model.load(path)
        return predictor(model)
    except Exception as e:  # whatever the handler raises or lacks, it did not load
        raise LoadFailed(
            f"the handler {HANDLER['file']}:{HANDLER['class']} did not load: "
            f"{type(e).__name__}: {e}"
        ) from e


def instantiate():
    """Imports the handler's file as its module and makes the handler."""
    name = HANDLER["module"]
    file = os.path.join(HANDLER_DIR, HANDLER["file"])
    if name in sys.modules:
        raise ModelError(f"the module name `{name}` is taken by one the app imports: rename {file}")
    # The handler's folder is searched last, for the modules it ships beside it: it shadows
    # none of the app's own.
    sys.path.append(os.path.dirname(file))
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: pickles of its classes then load.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, HANDLER["class"], None)
    if not isinstance(cls, type):
        raise ModelError(f"{file} has no class {HANDLER['class']}")
    return cls()


def predictor(model):
    predict = model.predict
    if inspect.iscoroutinefunction(predict):

        async def call_async(X):
            instances = X.tolist()
            with client_errors():
                out = await predict(instances)
            return checked(out, instances)

        return Predictor(call_async, batchable=False)

    def call(X):
        instances = X.tolist()
        with client_errors():
            out = predict(instances)
        return checked(out, instances)

    return Predictor(call, batchable=getattr(model, "batchable", False) is True)


@contextmanager
def client_errors():
    """A ValueError from the handler as the 422 it means."""
    try:
        yield
    except ValueError as e:
        raise BadRequest(422, str(e)) from None


def checked(out, instances):
    """`out`, if it holds one prediction per instance."""
    if not isinstance(out, (list, tuple, np.ndarray)):
        raise ModelError(f"the handler returned {type(out).__name__}, not a list")
    if len(out) != len(instances):
        raise ModelError(
            f"the handler returned {len(out)} predictions for {len(instances)} instances"
        )
    return out

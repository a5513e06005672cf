"""Predictions into JSON."""

import numpy as np
import orjson


def _default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def dumps(value):
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)

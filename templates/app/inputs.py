"""Request rows into the model's input: one float64 matrix in feature order, or a 422
naming the row and the feature."""

import numpy as np
import orjson
from settings import FEATURES, FRAMEWORK

N_FEATURES = len(FEATURES)
FEATURE_SET = frozenset(FEATURES)


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _number(value, row, column):
    kind = type(value)
    if kind is float or kind is int:  # not bool: True is no feature value
        return value
    if value is None:
        return np.nan  # a missing value; tree models route it, others refuse it
    raise BadRequest(
        422,
        f"instances[{row}]: feature `{FEATURES[column]}` must be a number, "
        f"got {orjson.dumps(value).decode()[:60]}",
    )


def _row_values(row, i):
    if isinstance(row, dict):
        if len(row) != N_FEATURES or not FEATURE_SET.issuperset(row):
            unknown = sorted(k for k in row if k not in FEATURE_SET)
            missing = [f for f in FEATURES if f not in row]
            problems = []
            if unknown:
                problems.append("unknown feature(s) " + ", ".join(f"`{k}`" for k in unknown))
            if missing:
                problems.append("missing feature(s) " + ", ".join(f"`{k}`" for k in missing))
            raise BadRequest(422, f"instances[{i}]: " + "; ".join(problems))
        return [_number(row[f], i, j) for j, f in enumerate(FEATURES)]
    if isinstance(row, list):
        if len(row) != N_FEATURES:
            raise BadRequest(
                422, f"instances[{i}] has {len(row)} values; the model takes {N_FEATURES}"
            )
        return [_number(v, i, j) for j, v in enumerate(row)]
    raise BadRequest(
        422,
        f"instances[{i}] must be an array of {N_FEATURES} numbers or an object keyed by "
        "feature name",
    )


def to_matrix(rows, may_hold_booleans=True):
    """The rows (a non-empty list) as the model's input. `may_hold_booleans` is false when
    the body cannot hold a JSON boolean: then a rectangular numeric list goes the fast path."""
    if isinstance(rows[0], list) and not may_hold_booleans:
        # Fast path: numpy parses a rectangular numeric list in C. Anything else (strings,
        # nulls, ragged rows, objects) takes the checked path, which names the problem.
        try:
            X = np.array(rows)
        except (ValueError, TypeError):
            X = None
        if X is not None and X.ndim == 2 and X.shape[1] == N_FEATURES and X.dtype.kind in "iuf":
            return X.astype(np.float64, copy=False)
    return np.array([_row_values(r, i) for i, r in enumerate(rows)], dtype=np.float64)


def to_instances(rows, may_hold_booleans=True):
    """The rows for a custom handler, as a 1-d object array (which the batcher stacks and
    slices as it does a matrix): with features, each row an object by feature name, checked
    as for any model (None where missing); without, each as the request sent it."""
    if FEATURES:
        X = to_matrix(rows, may_hold_booleans)
        # NaN, the matrix's missing value, goes back to None (NaN is the only value != itself).
        rows = [
            {f: None if v != v else v for f, v in zip(FEATURES, r, strict=True)} for r in X.tolist()
        ]
    return np.fromiter(rows, dtype=object, count=len(rows))


# What a protocol hands the model: a custom handler's instances, any other model's matrix.
model_input = to_instances if FRAMEWORK == "custom" else to_matrix


def row_schemas():
    """JSON schemas of one instance: an array in feature order, or an object by name."""
    if not FEATURES:
        return [{"description": "Any JSON value, as the handler reads it"}]
    number = {"type": ["number", "null"], "description": "null is a missing value"}
    row_array = {
        "type": "array",
        "description": "Values in feature order: " + ", ".join(FEATURES),
        "items": number,
        "minItems": N_FEATURES,
        "maxItems": N_FEATURES,
    }
    row_object = {
        "type": "object",
        "properties": {f: number for f in FEATURES},
        "required": FEATURES,
        "additionalProperties": False,
    }
    return [row_array, row_object]

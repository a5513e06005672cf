"""Request rows into the model's input, or a 422 naming the row and the feature.

Rows whose features are all numbers, integers or booleans become one float64 matrix in
feature order (null: NaN, a missing value); rows with text features stay lists of checked
values, in feature order, for the model call to make its DataFrame of. A custom handler
gets each row as an object by feature name, each value of its feature's type.
"""

import math

import numpy as np
import orjson
from settings import FEATURES, FRAMEWORK

NAMES = [f["name"] for f in FEATURES]
N_FEATURES = len(FEATURES)
NAME_SET = frozenset(NAMES)
# Every feature a plain number: rows may take numpy's fast path.
NUMBERS = all(f["type"] == "number" for f in FEATURES)
# Every feature fits a float matrix.
MATRIX = all(f["type"] in ("number", "integer", "boolean") for f in FEATURES)
LISTED_VALUES = 10  # a 422 for a wrong category lists this many of its values


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _is_number(value):
    kind = type(value)
    return kind is float or kind is int  # not bool: True is no number


def _is_integer(value):
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


def _accepts(feature):
    """The test a feature's values pass, and what it asks for in words."""
    kind = feature["type"]
    if kind == "category":
        values = feature["values"]
        allowed = frozenset(values)
        listed = ", ".join(orjson.dumps(v).decode() for v in values[:LISTED_VALUES])
        more = ", ..." if len(values) > LISTED_VALUES else ""
        return (lambda v: type(v) is str and v in allowed), f"one of {listed}{more}"
    return {
        "number": (_is_number, "a number"),
        "integer": (_is_integer, "a whole number"),
        "boolean": (lambda v: type(v) is bool, "true or false"),
        "string": (lambda v: type(v) is str, "text"),
    }[kind]


ACCEPTS = [_accepts(f) for f in FEATURES]


def _refused(value, row, column):
    wants = ACCEPTS[column][1]
    return BadRequest(
        422,
        f"instances[{row}]: feature `{NAMES[column]}` must be {wants}, "
        f"got {orjson.dumps(value).decode()[:60]}",
    )


def _number(value, row, column):
    kind = type(value)
    if kind is float or kind is int:  # not bool: True is no number
        return value
    if value is None:
        return np.nan  # a missing value; tree models route it, others refuse it
    raise _refused(value, row, column)


def _typed(value, row, column):
    if value is None or ACCEPTS[column][0](value):
        return value  # null: a missing value, NaN in a matrix or a DataFrame
    raise _refused(value, row, column)


_check = _number if NUMBERS else _typed


def _row_values(row, i, check=_check):
    if isinstance(row, dict):
        if len(row) != N_FEATURES or not NAME_SET.issuperset(row):
            unknown = sorted(k for k in row if k not in NAME_SET)
            missing = [f for f in NAMES if f not in row]
            problems = []
            if unknown:
                problems.append("unknown feature(s) " + ", ".join(f"`{k}`" for k in unknown))
            if missing:
                problems.append("missing feature(s) " + ", ".join(f"`{k}`" for k in missing))
            raise BadRequest(422, f"instances[{i}]: " + "; ".join(problems))
        return [check(row[f], i, j) for j, f in enumerate(NAMES)]
    if isinstance(row, list):
        if len(row) != N_FEATURES:
            raise BadRequest(
                422, f"instances[{i}] has {len(row)} values; the model takes {N_FEATURES}"
            )
        return [check(v, i, j) for j, v in enumerate(row)]
    raise BadRequest(
        422,
        f"instances[{i}] must be an array of {N_FEATURES} "
        f"{'numbers' if NUMBERS else 'values'} or an object keyed by feature name",
    )


def to_matrix(rows, may_hold_booleans=True):
    """The rows (a non-empty list) as the model's input. `may_hold_booleans` is false when
    the body cannot hold a JSON boolean: then a rectangular numeric list goes the fast path."""
    if NUMBERS and isinstance(rows[0], list) and not may_hold_booleans:
        # Fast path: numpy parses a rectangular numeric list in C. Anything else (strings,
        # nulls, ragged rows, objects) takes the checked path, which names the problem.
        try:
            X = np.array(rows)
        except (ValueError, TypeError):
            X = None
        if X is not None and X.ndim == 2 and X.shape[1] == N_FEATURES and X.dtype.kind in "iuf":
            return X.astype(np.float64, copy=False)
    values = [_row_values(r, i) for i, r in enumerate(rows)]
    # numpy makes None NaN and booleans 0 and 1 in a float array.
    return np.array(values, dtype=np.float64) if MATRIX else values


SCHEMA_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
    "category": "string",
}


def feature_schema(feature):
    """The JSON schema of one feature's value."""
    schema = {"type": [SCHEMA_TYPES[feature["type"]], "null"], "description": "null is missing"}
    if feature["type"] == "category":
        schema["enum"] = [*feature["values"], None]
    return schema


def _as_declared(kind):
    """A checked value as its feature's type says: numbers as floats, integers as ints (3.0
    is 3); None, or a NaN number, where the value is missing."""
    if kind == "number":
        return lambda v: None if v is None or math.isnan(v) else float(v)
    if kind == "integer":
        return lambda v: None if v is None else int(v)
    return lambda v: v


DECLARED = [_as_declared(f["type"]) for f in FEATURES]


def _instance(row, i):
    values = _row_values(row, i, _typed)
    return {name: cast(v) for name, cast, v in zip(NAMES, DECLARED, values, strict=True)}


def to_instances(rows, may_hold_booleans=True):
    """The rows for a custom handler, as a 1-d object array (which the batcher stacks and
    slices as it does a matrix): with features, each row an object by feature name, checked
    as for any model and typed as declared; without, each as the request sent it."""
    if FEATURES:
        rows = [_instance(r, i) for i, r in enumerate(rows)]
    return np.fromiter(rows, dtype=object, count=len(rows))


# What a protocol hands the model: a custom handler's instances, any other model's matrix.
model_input = to_instances if FRAMEWORK == "custom" else to_matrix


def row_schemas():
    """JSON schemas of one instance: an array in feature order, or an object by name."""
    if not FEATURES:
        return [{"description": "Any JSON value, as the handler reads it"}]
    row_array = {
        "type": "array",
        "description": "Values in feature order: " + ", ".join(NAMES),
        "prefixItems": [feature_schema(f) for f in FEATURES],
        "minItems": N_FEATURES,
        "maxItems": N_FEATURES,
    }
    row_object = {
        "type": "object",
        "properties": {f["name"]: feature_schema(f) for f in FEATURES},
        "required": NAMES,
        "additionalProperties": False,
    }
    return [row_array, row_object]

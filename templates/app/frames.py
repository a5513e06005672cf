"""The model's input as a pandas DataFrame: the features' names, in order, with their
types' dtypes, as a Pipeline or ColumnTransformer trained on a DataFrame expects.

Imported only when the spec asks for a DataFrame, so other services never load pandas.
"""

import numpy as np
import pandas as pd
from settings import FEATURES


def _column(feature, values):
    kind = feature["type"]
    if kind == "category":
        # The declared categories, whether or not this batch holds each; null is NaN.
        return pd.Categorical(values, categories=feature["values"])
    if kind == "string":
        return np.array([np.nan if v is None else v for v in values], dtype=object)
    column = np.asarray(values, dtype=np.float64)  # null: NaN
    # Whole columns keep their type; one with a missing value stays float, NaN for it.
    if kind == "integer" and not np.isnan(column).any():
        return column.astype(np.int64)
    if kind == "boolean" and not np.isnan(column).any():
        return column.astype(bool)
    return column


def frame(X):
    """`X`, a float matrix or a list of rows in feature order, as a DataFrame."""
    columns = X.T if isinstance(X, np.ndarray) else list(zip(*X, strict=True))
    return pd.DataFrame(
        {f["name"]: _column(f, c) for f, c in zip(FEATURES, columns, strict=True)}
    )

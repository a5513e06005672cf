"""Writes the small model file each example with a local model names, so every example
validates, plans and builds as committed.

The models are real (trained with the libraries and versions the generated images pin) but
toy-sized: a few trees on synthetic data, a few KB each. Run with the test virtualenv:

    "${MLGEN_VENV:-.venv}/bin/python" scripts/example-models.py

Training is seeded, so a rerun rewrites the same models.
"""

from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def iris(path):
    """The iris species classifier: scaling and a logistic regression on the iris data."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    joblib.dump(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y),
        path,
    )


def churn(path):
    """A churn-risk classifier on synthetic customers (4 features), as LightGBM text."""
    import lightgbm

    rng = np.random.default_rng(0)
    n = 500
    x = np.column_stack(
        [
            rng.integers(0, 72, n),  # tenure_months
            rng.uniform(20, 120, n),  # monthly_charges
            rng.poisson(1.5, n),  # support_calls
            rng.integers(0, 2, n),  # contract_monthly
        ]
    ).astype(float)
    risk = -0.04 * x[:, 0] + 0.01 * x[:, 1] + 0.5 * x[:, 2] + 1.2 * x[:, 3]
    y = (risk + rng.normal(0, 0.5, n) > 1.0).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "verbosity": -1,
        "seed": 0,
        "deterministic": True,
    }
    lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=5).save_model(path)


def forecast(path):
    """A demand regressor on synthetic store-days (8 features), as XGBoost UBJSON."""
    import xgboost

    rng = np.random.default_rng(0)
    n = 500
    x = rng.uniform(0, 1, (n, 8))
    y = 10 + 5 * x[:, 3] - 3 * x[:, 4] + 4 * x[:, 5] + rng.normal(0, 0.5, n)
    params = {"max_depth": 3, "eta": 0.3, "seed": 0}
    xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=5).save_model(
        path
    )


MODELS = {
    "iris-sklearn/models/iris.joblib": iris,
    "churn-public/model/churn.txt": churn,
    "forecast-gpu/models/forecast.ubj": forecast,
}

if __name__ == "__main__":
    for rel, train in MODELS.items():
        path = EXAMPLES / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        train(str(path))
        print(
            f"wrote {path.relative_to(EXAMPLES.parent)} ({path.stat().st_size} bytes)"
        )

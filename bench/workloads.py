"""The benchmark's models beyond the numeric forest, each with its spec lines and its load.

  pipeline   an sklearn Pipeline trained on a DataFrame: a ColumnTransformer one-hot-encodes
             two string columns, a RandomForest (100 trees) takes them with ten numbers;
             served as typed features (two categories), so the app hands it a DataFrame
  text       TF-IDF + logistic regression on raw strings, served by a custom handler

Each `train_*` writes the model and returns (request bodies, [(body, expected answer)]).
"""

import json

import numpy as np

N_TREES = 100
NUMBERS = [f"n{i}" for i in range(10)]
CATEGORIES = {"plan": ["free", "pro", "team"], "region": ["eu", "us", "apac", "latam"]}

PIPELINE_FEATURES = [
    *NUMBERS,
    *({"name": k, "type": "category", "values": v} for k, v in CATEGORIES.items()),
]


def _frame(rng, n):
    import pandas as pd

    frame = pd.DataFrame(
        rng.standard_normal((n, len(NUMBERS))).round(6), columns=NUMBERS
    )
    for name, values in CATEGORIES.items():
        frame[name] = rng.choice(values, n)
    return frame


def train_pipeline(path):
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = _frame(rng, 2000)
    plan_effect = X["plan"].map({"free": -1.0, "pro": 0.5, "team": 1.0})
    y = (
        X["n0"] + X["n1"] * X["n2"] + plan_effect + rng.normal(0, 0.5, len(X)) > 0
    ).astype(int)
    model = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        (
                            "onehot",
                            OneHotEncoder(handle_unknown="ignore"),
                            list(CATEGORIES),
                        )
                    ],
                    remainder="passthrough",
                ),
            ),
            ("forest", RandomForestClassifier(n_estimators=N_TREES, random_state=0)),
        ]
    ).fit(X, y)
    joblib.dump(model, path)
    rows = _frame(np.random.default_rng(1), 512)
    records = rows.to_dict(orient="records")
    bodies = [json.dumps({"instances": [r]}) for r in records]
    want = model.predict(rows.iloc[:8]).tolist()
    return bodies, [(bodies[i].encode(), [want[i]]) for i in range(8)]


WORDS = {
    "good": [
        "great",
        "excellent",
        "love",
        "perfect",
        "fast",
        "works",
        "recommend",
        "happy",
    ],
    "bad": [
        "terrible",
        "broke",
        "refund",
        "slow",
        "waste",
        "awful",
        "returned",
        "disappointed",
    ],
    "neutral": [
        "phone",
        "battery",
        "screen",
        "delivery",
        "price",
        "the",
        "it",
        "was",
        "and",
        "after",
        "week",
        "box",
        "charger",
        "case",
        "my",
        "with",
    ],
}


def _texts(rng, n):
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(["good", "bad"])
        words = [
            *rng.choice(WORDS["neutral"], rng.integers(8, 30)),
            *rng.choice(WORDS[label], rng.integers(1, 4)),
        ]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(str(label))
    return texts, labels


def train_text(path):
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(), LogisticRegression())
    model.fit(*_texts(np.random.default_rng(0), 2000))
    joblib.dump(model, path)
    texts, _ = _texts(np.random.default_rng(1), 512)
    bodies = [json.dumps({"instances": [t]}) for t in texts]
    want = model.predict(texts[:8]).tolist()
    return bodies, [(bodies[i].encode(), [want[i]]) for i in range(8)]


# The custom handler of the text service, as a user would write it for this model.
TEXT_HANDLER = '''"""TF-IDF + logistic regression over raw review texts."""

import joblib


class Model:
    batchable = True

    def load(self, path):
        self.pipeline = joblib.load(path)

    def predict(self, instances):
        for i, text in enumerate(instances):
            if not isinstance(text, str):
                raise ValueError(f"instances[{i}] must be a text")
        return self.pipeline.predict(instances).tolist()
'''

# The handler's packages: the runtime's sklearn set, pinned as data/runtime.toml pins it.
TEXT_REQUIREMENTS = [
    "cloudpickle==3.1.3",
    "joblib==1.6.0",
    "scikit-learn==1.6.1",
    "scipy==1.17.1",
    "threadpoolctl==3.8.0",
]

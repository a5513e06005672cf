"""The BentoML side of the serving benchmark: the same joblib models behind BentoML 1.4's
service API with adaptive batching on, as its docs show it.

    BENCH_MODEL_PATH=model.joblib BENCH_WORKERS=2 bentoml serve bento_service:RandomForest
    BENCH_MODEL_PATH=pipeline.joblib BENCH_WORKERS=2 bentoml serve bento_service:Pipeline

POST /predict {"instances": [[...]]} -> [...] (BentoML names the JSON field after the
parameter; the response is the bare array). The Pipeline service takes rows as objects,
{"instances": [{"n0": 0.1, ..., "plan": "pro"}]}, and predicts on their DataFrame.
"""

import os
from typing import Any

import bentoml
import numpy as np
import pandas as pd

WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
MAX_BATCH = int(os.environ.get("BENCH_MAX_BATCH", "64"))


@bentoml.service(workers=WORKERS)
class RandomForest:
    def __init__(self):
        import joblib

        self.model = joblib.load(os.environ["BENCH_MODEL_PATH"])

    # max_latency_ms stays at BentoML's default: a lower bound makes the dispatcher shed
    # load with 503s rather than queue, which would not compare like with like.
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)


@bentoml.service(workers=WORKERS)
class Pipeline:
    def __init__(self):
        import joblib

        self.model = joblib.load(os.environ["BENCH_MODEL_PATH"])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH)
    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        return self.model.predict(pd.DataFrame(instances)).tolist()

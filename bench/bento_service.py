"""The BentoML side of the serving benchmark: the same joblib model behind BentoML 1.4's
service API with adaptive batching on, as its docs show it.

    BENCH_MODEL_PATH=model.joblib BENCH_WORKERS=2 bentoml serve bento_service:RandomForest

POST /predict {"instances": [[...]]} -> [...] (BentoML names the JSON field after the
parameter; the response is the bare array).
"""

import os

import bentoml
import numpy as np

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

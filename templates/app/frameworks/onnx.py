"""ONNX models, run by ONNX Runtime: the first input takes the rows, the first output is
the prediction. Class probabilities come from the output whose name says `prob` (what
skl2onnx and most converters name it): a ZipMap output (one {class: score} per row) names
the classes itself; for a tensor output, the model's metadata `classes` (a JSON list)
does, else they are the column indexes."""

import json

import numpy as np
import onnxruntime
from settings import FEATURES, THREADS

from frameworks import Predictor

DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def load(path, device):
    options = onnxruntime.SessionOptions()
    # A pool wider than the worker's share of vCPUs only adds contention; for small batches
    # one thread is fastest.
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    session = onnxruntime.InferenceSession(path, options, providers=providers)
    first = session.get_inputs()[0]
    width = first.shape[-1] if first.shape else None
    dtype = DTYPES.get(first.type, np.float32)
    name = first.name
    output = [session.get_outputs()[0].name]

    def predict(X):
        out = session.run(output, {name: X.astype(dtype, copy=False)})[0]
        if isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[1] == 1:
            out = out.ravel()
        return out

    predictor = Predictor(predict, width if isinstance(width, int) else None)
    probabilities = [o for o in session.get_outputs() if "prob" in o.name.lower()]
    if not probabilities:
        predictor.no_proba = "the model has no output named for probabilities (`...prob...`)"
        return predictor
    out = probabilities[0].name

    def scores(X):
        return session.run([out], {name: X.astype(dtype, copy=False)})[0]

    # One row of zeros shows the classes a ZipMap output names, or a tensor output's width.
    probe = scores(np.zeros((1, len(FEATURES))))
    if isinstance(probe, list):  # ZipMap: a list of {class: score}, one per row
        classes = list(probe[0])
        predictor.proba = lambda X: [[row[c] for c in classes] for row in scores(X)]
    else:
        meta = session.get_modelmeta().custom_metadata_map.get("classes")
        classes = json.loads(meta) if meta else list(range(probe.shape[-1]))
        predictor.proba = scores
    predictor.classes = classes
    return predictor

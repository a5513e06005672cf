"""ONNX models, run by ONNX Runtime: the first input takes the rows, the first output is
the prediction."""

import numpy as np
import onnxruntime
from settings import THREADS

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

    return Predictor(predict, width if isinstance(width, int) else None)

"""ONNX models, run by ONNX Runtime: the first input takes the rows, the first output is
the prediction. Class probabilities come from the output whose name says `prob` (what
skl2onnx and most converters name it): a ZipMap output (one {class: score} per row) names
the classes itself; for a tensor output, the model's metadata `classes` (a JSON list)
does, else they are the column indexes."""

import ctypes
import json

import numpy as np
import onnxruntime
from logs import log
from settings import FEATURES, THREADS

from frameworks import Predictor

DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def cuda_devices():
    """The GPUs the CUDA driver sees: 0 without the driver (the host provides libcuda, the
    image does not) or without a GPU."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def providers(device, gpus):
    """The execution providers to ask for, best first. CUDA only where a GPU is there:
    onnxruntime-gpu 1.22 with its CUDA libraries loaded crashes (SIGSEGV) creating the CUDA
    provider on a machine without the driver, instead of falling back to the CPU."""
    if device == "cuda" and gpus:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_of(path, device):
    """The model's session, on the GPU where the service has one and CUDA works. A GPU
    service says once at startup which provider runs (one worker per GPU service)."""
    options = onnxruntime.SessionOptions()
    # A pool wider than the worker's share of vCPUs only adds contention; for small batches
    # one thread is fastest.
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if device != "cuda":
        return onnxruntime.InferenceSession(path, options, providers=providers(device, 0))
    gpus = cuda_devices()
    asked = providers(device, gpus)
    if asked[0] == "CUDAExecutionProvider":
        # The CUDA and cuDNN libraries are wheels in site-packages, not on the loader's
        # path: onnxruntime-gpu loads them itself before the provider needs them.
        onnxruntime.preload_dlls()
    session = onnxruntime.InferenceSession(path, options, providers=asked)
    running = session.get_providers()[0]
    if running == "CUDAExecutionProvider":
        log("INFO", f"the model runs on the GPU ({running})", provider=running, gpus=gpus)
    else:
        log("WARNING", f"CUDA is unavailable ({gpus} GPUs seen): the model runs on the CPU "
            f"({running})", provider=running, gpus=gpus)
    return session


def load(path, device):
    session = session_of(path, device)
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

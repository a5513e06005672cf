"""The service's settings, read once per process from config.json beside this file.

Imported before numpy or any model library: it sizes their native thread pools.

Environment: MLGEN_MODEL_PATH (overrides the model path), MLGEN_HANDLER_DIR (overrides the
folder of a custom handler).
"""

import os

import orjson

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json"), "rb") as _f:
    CONFIG = orjson.loads(_f.read())
THREADS = int(CONFIG["threads"])
# Native thread pools size themselves from these on import: one model call per worker uses
# the vCPUs left to that worker, and no more.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

FEATURES = list(CONFIG["features"])
FRAMEWORK = CONFIG["serve_framework"]
DEVICE = CONFIG["device"]
MODEL_PATH = os.environ.get("MLGEN_MODEL_PATH") or CONFIG["model_path"]
# A custom handler: its file (under HANDLER_DIR, laid out as beside the spec), module and class.
HANDLER = CONFIG["handler"]
HANDLER_DIR = os.environ.get("MLGEN_HANDLER_DIR") or (HANDLER and HANDLER["dir"])
MAX_BATCH = int(CONFIG["max_batch_size"])
MAX_WAIT_S = float(CONFIG["max_batch_wait_ms"]) / 1000.0
MAX_BODY = int(CONFIG["max_request_bytes"])
PROJECT = CONFIG["project"]
READY_PATH = CONFIG["ready_path"]
LIVE_PATH = CONFIG["live_path"]

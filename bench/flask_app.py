"""The Flask side of the serving benchmark: the same joblib model in the plainest Flask app,
run by gunicorn's default (sync) workers.

    BENCH_MODEL_PATH=model.joblib gunicorn -w 2 -b 127.0.0.1:8000 flask_app:app
"""

import os

import joblib
import numpy as np
from flask import Flask, jsonify, request

model = joblib.load(os.environ["BENCH_MODEL_PATH"])
app = Flask(__name__)


@app.post("/predict")
def predict():
    X = np.asarray(request.get_json()["instances"], dtype=np.float64)
    return jsonify(predictions=model.predict(X).tolist())


@app.get("/ready")
def ready():
    return {"status": "ready"}

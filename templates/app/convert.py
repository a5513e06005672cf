"""Converts the sklearn model to ONNX while the image builds, and fails the build unless the
converted model agrees with the original on sample rows.

    convert.py MODEL.joblib OUT.onnx --features N      convert, check, write
    convert.py --check MODEL.joblib MODEL.onnx --features N    check an existing pair

Exit status 0 when they agree, 1 when they do not (the reason on stderr).
"""

import argparse
import json
import sys

import joblib
import numpy as np

# Scores must agree within this (ONNX Runtime computes in float32); labels must match
# exactly, except on rows where sklearn's top probabilities are within it (a tie).
TOLERANCE = 1e-4


def sample_rows(n_features, seed=0):
    """Rows spread over several scales and shapes, in float32 so both sides see the same
    values (sklearn's trees compare in float32 too)."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.standard_normal((200, n_features)),
        rng.uniform(-100.0, 100.0, (100, n_features)),
        rng.uniform(0.0, 10.0, (100, n_features)),
        rng.integers(0, 5, (50, n_features)).astype(np.float64),
        np.zeros((1, n_features)),
    ]
    return np.vstack(parts).astype(np.float32)


def is_classifier(model):
    return hasattr(model, "classes_")


def convert(model, n_features):
    from skl2onnx import to_onnx

    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    onnx_model = to_onnx(
        model,
        sample_rows(n_features)[:1],
        options=options,
        # The newest opsets ONNX Runtime 1.20 executes.
        target_opset={"": 21, "ai.onnx.ml": 3},
    )
    if is_classifier(model):
        # The probability output is a plain tensor: the app names its columns from this.
        entry = onnx_model.metadata_props.add()
        entry.key = "classes"
        entry.value = json.dumps(model.classes_.tolist())
    return onnx_model.SerializeToString()


def ties(model, proba, labels):
    """Per row: whether `labels` (ONNX's) is a class whose sklearn probability is within
    TOLERANCE of the row's highest, i.e. a tie that float32 rounding may break either way.

    On an exact tie (a forest's votes split 50/50) sklearn's argmax takes the first class,
    while ONNX Runtime's float32 sums can land a hair above or below and pick the other."""
    index = {label: j for j, label in enumerate(model.classes_.tolist())}
    out = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels.tolist()):
        j = index.get(label)
        out[i] = j is not None and proba[i, j] >= proba[i].max() - TOLERANCE
    return out


def disagreement(model, onnx_bytes, rows):
    """None when the models agree on `rows`, else what differs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: rows})
    expected = np.asarray(model.predict(rows.astype(np.float64)))
    got = np.asarray(outputs[0])
    if got.ndim == 2 and got.shape[1] == 1 and expected.ndim == 1:
        got = got.ravel()
    if got.shape != expected.shape:
        return f"prediction shape {got.shape} differs from sklearn's {expected.shape}"
    if is_classifier(model):
        proba = None
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(rows.astype(np.float64)))
        wrong = np.flatnonzero(got != expected)
        if wrong.size and proba is not None:
            wrong = wrong[~ties(model, proba[wrong], got[wrong])]
        if wrong.size:
            i = wrong[0]
            return (
                f"labels differ on {wrong.size} of {len(rows)} rows "
                f"(row {i}: sklearn {expected[i]!r}, onnx {got[i]!r})"
            )
        if proba is not None and len(outputs) > 1:
            gap = float(np.max(np.abs(np.asarray(outputs[1]) - proba)))
            if gap > TOLERANCE:
                return f"probabilities differ by up to {gap:.3g} (allowed {TOLERANCE})"
        return None
    scale = max(1.0, float(np.max(np.abs(expected))))
    gap = float(np.max(np.abs(got.astype(np.float64) - expected)))
    if gap > TOLERANCE * scale:
        return f"predictions differ by up to {gap:.3g} (allowed {TOLERANCE * scale:.3g})"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare MODEL with OUT")
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("model")
    parser.add_argument("out")
    args = parser.parse_args(argv)

    model = joblib.load(args.model)
    width = getattr(model, "n_features_in_", args.features)
    if width != args.features:
        print(
            f"convert: the model takes {width} features, the spec lists {args.features}",
            file=sys.stderr,
        )
        return 1
    if args.check:
        with open(args.out, "rb") as f:
            onnx_bytes = f.read()
    else:
        try:
            onnx_bytes = convert(model, args.features)
        except Exception as e:  # noqa: BLE001
            print(f"convert: skl2onnx cannot convert this model: {e}", file=sys.stderr)
            return 1
    rows = sample_rows(args.features)
    problem = disagreement(model, onnx_bytes, rows)
    if problem:
        print(f"convert: the ONNX model disagrees with the original: {problem}", file=sys.stderr)
        return 1
    if not args.check:
        with open(args.out, "wb") as f:
            f.write(onnx_bytes)
    print(f"convert: {args.model} -> {args.out}: agrees on {len(rows)} sample rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())

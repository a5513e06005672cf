"""The Open Inference Protocol, v2 REST (KServe v2, Triton), on the same model and batching
path as /predict; the model's name is the service's.

Inputs: one tensor per feature, named as the feature, each [N] or [N, 1]; or one tensor
[N, F] with the features in the spec's order, where they are all text or all not. Without
features (a custom handler reading the instances as sent), one tensor [N, ...] whose rows
are the instances. Numeric tensors (BOOL, INT*, UINT*, FP*) feed number, integer and
boolean features; BYTES (UTF-8 strings) feed string and category features. Data comes as
JSON (flat or nested, row-major) or in the binary tensor extension.

Output: one tensor `predictions`, [N] or [N, ...]: INT64, FP64 or BOOL where the
predictions are numbers, else BYTES (strings as they are, anything else as JSON text). With
`output = "proba"`, two tensors instead: `classes` (BYTES [N, C], each label as text) and
`scores` (FP64 [N, C]). Each in binary when the request asks for it.
"""

import inputs
import numpy as np
import orjson
from inputs import BadRequest
from outputs import dumps
from settings import CONFIG, FEATURES, FRAMEWORK

NAMES = [f["name"] for f in FEATURES]

PREFIX = "/v2"
NAME = CONFIG["service"]
MODEL = f"{PREFIX}/models/{NAME}"
PROBA = CONFIG["output"] == "proba"
OUTPUTS = ("classes", "scores") if PROBA else ("predictions",)
TEXT = ("string", "category")
# Each feature's tensor datatype in the model's metadata.
DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
INFER = object()  # what route() answers for an inference request

# Datatypes as little-endian numpy types (the binary extension's byte order).
NUMERIC = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
# The JSON values each numeric datatype takes, by numpy kind.
KINDS = {"BOOL": "b", "UINT": "iu", "INT": "iu", "FP": "iuf"}


def route(method, path, ready):
    """INFER, or (status, body) for the other routes, or (status, error message)."""
    if path.startswith(PREFIX + "/models/") and path != MODEL and not path.startswith(MODEL + "/"):
        return 404, f"no such model: this service serves `{NAME}`"
    if path == MODEL + "/infer":
        return INFER if method == "POST" else (405, "use POST")
    if method not in ("GET", "HEAD"):
        return 405, "use GET"
    if path == PREFIX:
        return 200, dumps(
            {"name": NAME, "version": version(), "extensions": ["binary_tensor_data"]}
        )
    if path == PREFIX + "/health/live":
        return 200, b'{"live":true}'
    if path == PREFIX + "/health/ready":
        return (200, b'{"ready":true}') if ready else (503, b'{"ready":false}')
    if path == MODEL:
        return 200, dumps(metadata())
    if path == MODEL + "/ready":
        return (200, dumps({"name": NAME, "ready": True})) if ready else (503, "not ready")
    return 404, f"no route {path}"


def version():
    return CONFIG["image"].rsplit(":", 1)[-1]


def metadata():
    return {
        "name": NAME,
        "versions": [version()],
        "platform": f"mlgen-{FRAMEWORK}",
        "inputs": [
            {"name": f["name"], "datatype": DATATYPES.get(f["type"], "BYTES"), "shape": [-1]}
            for f in FEATURES
        ],
        "outputs": output_metadata(),
    }


def output_metadata():
    if PROBA:
        return [
            {"name": "classes", "datatype": "BYTES", "shape": [-1, -1]},
            {"name": "scores", "datatype": "FP64", "shape": [-1, -1]},
        ]
    # The datatype follows the predictions: numbers where the framework says, else BYTES.
    numeric = FRAMEWORK in ("xgboost", "lightgbm")
    return [{"name": "predictions", "datatype": "FP64" if numeric else "BYTES", "shape": [-1]}]


class Call:
    """One inference request: parse(body) -> the model's input, answer(predictions) -> the
    response body, with `content_type` and `headers` set for it."""

    def __init__(self, headers):
        self.json_size = headers.get(b"inference-header-content-length")
        self.id = None
        self.binary = False
        self.outputs = OUTPUTS
        self.content_type = b"application/json"
        self.headers = ()

    def parse(self, body):
        header, blobs = self.split(body)
        try:
            request = orjson.loads(header)
        except orjson.JSONDecodeError as e:
            raise BadRequest(400, f"the body is not valid JSON: {e}") from None
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise BadRequest(400, 'the body must be a JSON object {"inputs": [...]}')
        self.id = request.get("id")
        self.binary = self.wants_binary(request)
        tensors = {}
        for i, spec in enumerate(request["inputs"]):
            name, array = tensor(spec, i, blobs)
            tensors[name] = array
        if blobs.remaining():
            raise BadRequest(400, "the body has binary data that no input claims")
        rows = to_rows(tensors)
        try:
            return inputs.model_input(rows, any(a.dtype.kind == "b" for a in tensors.values()))
        except BadRequest as e:
            raise BadRequest(400, e.message) from None

    def split(self, body):
        """The JSON header and the binary data after it (the binary extension)."""
        if self.json_size is None:
            return body, Blobs(b"")
        if not self.json_size.isdigit() or int(self.json_size) > len(body):
            raise BadRequest(400, "Inference-Header-Content-Length does not fit the body")
        size = int(self.json_size)
        return body[:size], Blobs(body[size:])

    def wants_binary(self, request):
        """Whether the outputs go in binary; the outputs asked for are kept, in their order."""
        everything = bool((request.get("parameters") or {}).get("binary_data_output"))
        wanted = request.get("outputs")
        if wanted is None:
            return everything
        if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
            raise BadRequest(400, "`outputs` must be a list of objects")
        for o in wanted:
            if o.get("name") not in OUTPUTS:
                names = ", ".join(f"`{n}`" for n in OUTPUTS)
                raise BadRequest(400, f"no output {o.get('name')!r}: the model's are {names}")
        if wanted:
            self.outputs = [o["name"] for o in wanted]
        return any((o.get("parameters") or {}).get("binary_data", everything) for o in wanted)

    def answer(self, predictions):
        tensors = split_proba(predictions) if PROBA else {"predictions": predictions}
        outs, blobs = [], []
        for name in self.outputs:
            datatype, array = output(tensors[name])
            out = {"name": name, "datatype": datatype, "shape": list(array.shape)}
            if self.binary:
                blobs.append(to_binary(datatype, array))
                out["parameters"] = {"binary_data_size": len(blobs[-1])}
            else:
                out["data"] = array.ravel().tolist()
            outs.append(out)
        response = {"model_name": NAME, "model_version": version(), "outputs": outs}
        if self.id is not None:
            response["id"] = self.id
        header = dumps(response)
        if not self.binary:
            return header
        self.content_type = b"application/octet-stream"
        self.headers = [(b"inference-header-content-length", str(len(header)).encode())]
        return header + b"".join(blobs)


class Blobs:
    """The binary data of a request, taken input by input."""

    def __init__(self, data):
        self.data = memoryview(data)
        self.at = 0

    def take(self, size):
        if self.at + size > len(self.data):
            raise BadRequest(400, "the binary data is shorter than the inputs' binary_data_size")
        self.at += size
        return self.data[self.at - size : self.at]

    def remaining(self):
        return len(self.data) - self.at


def tensor(spec, i, blobs):
    """One input tensor as (name, numpy array of its shape)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise BadRequest(400, f"inputs[{i}] must be an object with a `name`")
    name, shape, datatype = spec["name"], spec.get("shape"), spec.get("datatype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(400, f"input `{name}`: `shape` must be a list of sizes")
    if datatype != "BYTES" and datatype not in NUMERIC:
        known = ", ".join([*NUMERIC, "BYTES"])
        raise BadRequest(400, f"input `{name}`: datatype {datatype!r} is not one of {known}")
    size = int(np.prod(shape))
    binary_size = (spec.get("parameters") or {}).get("binary_data_size")
    if binary_size is not None:
        values = from_binary(name, datatype, blobs.take(binary_size), size)
    elif "data" in spec:
        values = from_json(name, datatype, spec["data"])
    else:
        raise BadRequest(400, f"input `{name}` has no `data`")
    if len(values) != size:
        raise BadRequest(
            400, f"input `{name}` has {len(values)} values; shape {shape} needs {size}"
        )
    return name, values.reshape(shape)


def from_json(name, datatype, data):
    if datatype == "BYTES":
        values = flat(data)
        if not all(isinstance(v, str) for v in values):
            raise BadRequest(400, f"input `{name}`: BYTES data must be strings")
        return np.array(values, dtype=object)
    try:
        values = np.array(data).ravel()
    except ValueError:
        raise BadRequest(400, f"input `{name}`: the data is not a regular array") from None
    allowed = next(kinds for prefix, kinds in KINDS.items() if datatype.startswith(prefix))
    if values.size and values.dtype.kind not in allowed:
        raise BadRequest(400, f"input `{name}`: the data does not hold {datatype} values")
    return values.astype(NUMERIC[datatype])


def flat(data):
    if not isinstance(data, list):
        return [data]
    return [v for item in data for v in flat(item)]


def from_binary(name, datatype, raw, size):
    if datatype != "BYTES":
        dtype = NUMERIC[datatype]
        if len(raw) != size * dtype.itemsize:
            raise BadRequest(400, f"input `{name}`: {len(raw)} bytes do not make {size} {datatype}")
        return np.frombuffer(raw, dtype=dtype)
    values, at = [], 0
    while at < len(raw):  # each element: its length (uint32, little-endian), then its bytes
        length = int.from_bytes(raw[at : at + 4], "little")
        try:
            values.append(bytes(raw[at + 4 : at + 4 + length]).decode())
        except UnicodeDecodeError:
            raise BadRequest(400, f"input `{name}`: BYTES elements must be UTF-8") from None
        at += 4 + length
    return np.array(values, dtype=object)


def split_proba(predictions):
    """Each row's {"classes", "scores"} as the two tensors: labels as text, scores as floats."""
    classes = [
        [c if isinstance(c, str) else dumps(c).decode() for c in p["classes"]] for p in predictions
    ]
    scores = np.array([p["scores"] for p in predictions], dtype="<f8")
    return {"classes": np.array(classes, dtype=object), "scores": scores}


def check_datatype(name, array, features):
    """BYTES feed text features, numeric tensors the others: a 400 where they do not meet."""
    text = array.dtype.kind == "O"
    for f in features:
        if (f["type"] in TEXT) != text:
            wants = "BYTES" if f["type"] in TEXT else "a numeric datatype (FP*, INT*, BOOL)"
            raise BadRequest(
                400, f"input `{name}`: feature `{f['name']}` is {f['type']}: send {wants}"
            )


def to_rows(tensors):
    """The instances the tensors hold, each a list of values (or, without features, a value)."""
    if not tensors:
        raise BadRequest(400, "`inputs` is empty")
    if FEATURES and set(tensors) == set(NAMES):
        columns = [tensors[f] for f in NAMES]
        n = len(columns[0])
        for f, c in zip(FEATURES, columns, strict=True):
            name = f["name"]
            if c.ndim not in (1, 2) or c.shape[1:] not in ((), (1,)) or len(c) != n:
                raise BadRequest(
                    400, f"input `{name}` must be [{n}] or [{n}, 1], got {list(c.shape)}"
                )
            check_datatype(name, c, [f])
        rows = [list(r) for r in zip(*(c.reshape(n).tolist() for c in columns), strict=True)]
    elif len(tensors) == 1:
        (name, array), *_ = tensors.items()
        width = len(FEATURES)
        if FEATURES and (array.ndim != 2 or array.shape[1] != width):
            raise BadRequest(
                400,
                f"input `{name}` must be [N, {width}] (features in the spec's order) or one "
                f"input per feature; got {list(array.shape)}",
            )
        if array.ndim == 0:
            raise BadRequest(400, f"input `{name}` must have one row per instance")
        check_datatype(name, array, FEATURES)
        rows = array.tolist()
    else:
        raise BadRequest(
            400,
            f"send one input per feature ({', '.join(NAMES) or 'none declared'}) or one "
            f"[N, F] input; got {', '.join(tensors)}",
        )
    if not rows:
        raise BadRequest(400, "the inputs hold no rows")
    return rows


def output(predictions):
    """The predictions as (datatype, array)."""
    try:
        array = np.asarray(predictions)
    except ValueError:  # ragged: as JSON text, one per prediction
        array = None
    if array is not None and array.dtype.kind in "biuf":
        if array.dtype.kind in "iu":
            return "INT64", array.astype("<i8")
        if array.dtype.kind == "b":
            return "BOOL", array
        return "FP64", array.astype("<f8")
    if (
        array is not None
        and array.dtype.kind in "UO"
        and all(isinstance(p, str) for p in array.flat)
    ):
        return "BYTES", array.astype(object)
    texts = [p if isinstance(p, str) else dumps(p).decode() for p in predictions]
    return "BYTES", np.array(texts, dtype=object)


def to_binary(datatype, array):
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=NUMERIC[datatype]).tobytes()
    parts = []
    for text in array.ravel():
        data = text.encode()
        parts += [len(data).to_bytes(4, "little"), data]
    return b"".join(parts)


def paths(err):
    """This protocol's OpenAPI paths; `err(text)` is the response object of an error."""
    json_body = {"application/json": {"schema": {"type": "object"}}}
    return {
        PREFIX: {"get": {"summary": "Open Inference Protocol: server metadata"}},
        PREFIX + "/health/live": {"get": {"summary": "Open Inference Protocol: liveness"}},
        PREFIX + "/health/ready": {"get": {"summary": "Open Inference Protocol: readiness"}},
        MODEL: {"get": {"summary": "Open Inference Protocol: the model's tensors"}},
        MODEL + "/ready": {"get": {"summary": "Open Inference Protocol: model readiness"}},
        MODEL + "/infer": {
            "post": {
                "summary": "Open Inference Protocol: predict (outputs "
                + ", ".join(f"`{n}`" for n in OUTPUTS)
                + ")",
                "requestBody": {"required": True, "content": json_body},
                "responses": {
                    "200": {"description": "The output tensors", "content": json_body},
                    "400": err("The inputs do not fit the features"),
                    "500": err("The model failed; quote request_id"),
                    "503": err("The model is still loading"),
                },
            }
        },
    }

"""The request and response shape of Vertex AI custom containers:
POST /predict {"instances": [...]} -> {"predictions": [...]}."""

import inputs
import orjson
from inputs import BadRequest
from outputs import dumps
from settings import CONFIG, MAX_BODY

PATH = "/predict"
# One prediction: the model's own, or a classifier's classes with their scores.
PREDICTION = (
    {
        "type": "object",
        "properties": {
            "classes": {"type": "array", "description": "The labels, as the model has them"},
            "scores": {"type": "array", "items": {"type": "number"}},
        },
        "required": ["classes", "scores"],
    }
    if CONFIG["output"] == "proba"
    else {}
)


def parse(body):
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise BadRequest(422, 'the body must be a JSON object {"instances": [...]}')
    rows = payload["instances"]
    if not rows:
        raise BadRequest(422, "`instances` is empty")
    return inputs.model_input(rows, b"true" in body or b"false" in body)


def answer(predictions):
    return dumps({"predictions": predictions})


def paths(err):
    """This protocol's OpenAPI paths; `err(text)` is the response object of an error."""
    return {
        PATH: {
            "post": {
                "summary": "Predict one value per instance",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "instances": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"oneOf": inputs.row_schemas()},
                                    }
                                },
                                "required": ["instances"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "One prediction per instance, in order",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "predictions": {"type": "array", "items": PREDICTION}
                                    },
                                    "required": ["predictions"],
                                }
                            }
                        },
                    },
                    "400": err("The body is not JSON"),
                    "413": err(f"The body is over {MAX_BODY} bytes"),
                    "422": err("The instances do not match the features"),
                    "500": err("The model failed; quote request_id"),
                    "503": err("The model is still loading"),
                },
            }
        }
    }

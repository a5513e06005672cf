"""Request and response shapes, one module each: PATH, parse(body) -> the model's input,
answer(predictions) -> the response body, and paths(error) -> its OpenAPI paths."""

"""The committed JSON Schema describes every example, and rejects what the parser rejects."""

import json
import tomllib

import jsonschema
import pytest
from conftest import EXAMPLES, ROOT, mlgen

SCHEMA = json.loads((ROOT / "schema" / "mlgen.schema.json").read_text())


def test_committed_schema_matches_the_binary():
    assert mlgen("schema").stdout == (ROOT / "schema" / "mlgen.schema.json").read_text()


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_validates_against_the_schema(example):
    spec = tomllib.loads((ROOT / "examples" / example / "mlgen.toml").read_text())
    jsonschema.validate(spec, SCHEMA)


def test_init_starter_validates_against_the_schema(tmp_path):
    mlgen("init", tmp_path / "mlgen.toml")
    spec = tomllib.loads((tmp_path / "mlgen.toml").read_text())
    jsonschema.validate(spec, SCHEMA)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["service"].update(regoin="x"),  # unknown key
        lambda s: s["model"].update(framework="sklearm"),  # not an enum value
        lambda s: s["access"].update(ingress="everywhere"),
        lambda s: s.pop("service_account"),  # missing required table
    ],
)
def test_schema_rejects_what_the_parser_rejects(mutate, tmp_path):
    spec = tomllib.loads((ROOT / "examples" / "iris-sklearn" / "mlgen.toml").read_text())
    mutate(spec)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, SCHEMA)

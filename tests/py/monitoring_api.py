"""Checks Cloud Monitoring JSON documents against the API's own message types, as shipped
with the installed gcloud SDK (its generated apitools clients: monitoring v3 for alert
policies and notification channels, v1 for dashboards).

`problems(doc, "AlertPolicy")` walks the document with the message classes and returns what
does not fit: a field the message does not have, a value of the wrong JSON type, an enum
value the API does not define. Unlike gcloud's own decoding, which keeps unknown fields
aside and lets the API refuse them later, every one is an error here. Metric types are
checked against data/monitoring.toml, Cloud Run's published metric names.
"""

import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')


@cache
def sdk_lib():
    """The SDK's lib/ folder: $MLGEN_GCLOUD_SDK's, else the one `gcloud` on PATH runs from.
    Set the variable wherever a stand-in gcloud is first on PATH."""
    if os.environ.get("MLGEN_GCLOUD_SDK"):
        return Path(os.environ["MLGEN_GCLOUD_SDK"]) / "lib"
    try:
        root = subprocess.run(
            ["gcloud", "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = ""
    return Path(root or "/usr/lib/google-cloud-sdk") / "lib"


@cache
def modules():
    """(v3 messages, v1 messages, apitools' encoding helper) of the installed SDK."""
    lib = sdk_lib()
    sys.path[:0] = [str(lib), str(lib / "third_party")]
    from apitools.base.py import encoding_helper
    from googlecloudsdk.generated_clients.apis.monitoring.v1 import (
        monitoring_v1_messages as v1,
    )
    from googlecloudsdk.generated_clients.apis.monitoring.v3 import (
        monitoring_v3_messages as v3,
    )

    return v3, v1, encoding_helper


def message(name):
    v3, v1, _ = modules()
    return getattr(v1 if name == "Dashboard" else v3, name)


def problems(doc, type_name):
    """Every way `doc` (parsed JSON) is not a valid `type_name` message."""
    out = []
    _walk(doc, message(type_name), type_name, out)
    return out


def _walk(value, cls, where, out):
    from apitools.base.protorpclite import messages

    _, _, helper = modules()
    if not isinstance(value, dict):
        out.append(f"{where}: expected an object for {cls.__name__}, got {value!r}")
        return
    mapped = helper._UNRECOGNIZED_FIELD_MAPPINGS.get(cls)
    if mapped:  # a JSON map: any key, each value of the entry's type
        value_field = cls.field_by_name(mapped).type.field_by_name("value")
        for k, v in value.items():
            _field(v, value_field, f"{where}.{k}", out, messages)
        return
    for key, v in value.items():
        try:
            field = cls.field_by_name(key)
        except KeyError:
            out.append(f"{where}: {cls.__name__} has no field `{key}`")
            continue
        if field.repeated:
            if not isinstance(v, list):
                out.append(f"{where}.{key}: expected a list")
                continue
            for i, item in enumerate(v):
                _field(item, field, f"{where}.{key}[{i}]", out, messages)
        else:
            _field(v, field, f"{where}.{key}", out, messages)


def _field(v, field, where, out, messages):
    if isinstance(field, messages.MessageField):
        _walk(v, field.type, where, out)
    elif isinstance(field, messages.EnumField):
        names = set(field.type.names())
        if v not in names:
            out.append(f"{where}: `{v}` is not one of {sorted(names)}")
    elif isinstance(field, messages.BooleanField):
        if not isinstance(v, bool):
            out.append(f"{where}: expected a boolean, got {v!r}")
    elif isinstance(field, messages.IntegerField):
        # int64 travels as a string in JSON.
        if isinstance(v, bool) or not (
            isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit())
        ):
            out.append(f"{where}: expected an integer, got {v!r}")
    elif isinstance(field, messages.FloatField):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{where}: expected a number, got {v!r}")
    elif not isinstance(v, str):
        out.append(f"{where}: expected a string, got {v!r}")


@cache
def published_metrics():
    """{metric type: its entry} from data/monitoring.toml."""
    data = tomllib.loads((ROOT / "data" / "monitoring.toml").read_text())
    return {m["type"]: m for m in data["metrics"].values()}


def unknown_metrics(doc):
    """Metric types named in a document's filters that Cloud Run does not publish."""
    text = json.dumps(doc)
    return sorted(
        {m for m in METRIC_TYPE.findall(text.replace('\\"', '"'))}
        - set(published_metrics())
    )

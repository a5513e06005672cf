"""Checks Cloud Monitoring JSON documents against the API's own message types, as shipped
with the installed gcloud SDK (its generated apitools clients: monitoring v3 for alert
policies and notification channels, v1 for dashboards).

`problems(doc, "AlertPolicy")` walks the document with the message classes and returns what
does not fit: a field the message does not have, a value of the wrong JSON type, an enum
value the API does not define. Unlike gcloud's own decoding, which keeps unknown fields
aside and lets the API refuse them later, every one is an error here. Metric types are
checked against data/monitoring.toml, Cloud Run's published metric names, and each
aggregation against the metric's kind and value type by the rules the SDK's `Aggregation`
enums document (`misaggregated`).
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


# --- aligners and reducers ---------------------------------------------------------------

KINDS = ("GAUGE", "DELTA", "CUMULATIVE")
# The value-type words of the Aggregation enums' documentation, as valueType names.
VALUE_WORDS = {
    "numeric": {"INT64", "DOUBLE"},
    "distribution": {"DISTRIBUTION"},
    "boolean": {"BOOL"},
    "string": {"STRING"},
}


class Rule:
    """What one aligner or reducer accepts and what it makes of it, as the API documents it."""

    def __init__(self, text):
        text = " ".join(text.split())
        valid = re.search(r"valid for ((?:[A-Z]+)(?: and [A-Z]+)*) metrics([^.]*)\.", text)
        # ALIGN_NONE and REDUCE_NONE alone say nothing: they change nothing.
        self.documented = valid is not None
        self.kinds = set(valid.group(1).split(" and ")) if valid else set(KINDS)
        values = {t for word, types in VALUE_WORDS.items() if word in valid.group(2).lower() for t in types} if valid else set()
        # "valid for CUMULATIVE and DELTA metrics." names no value types: all of them.
        self.values = values or set().union(*VALUE_WORDS.values())
        kind = re.search(r"output is a ([A-Z]+) metric|convert to ([A-Z]+)", text)
        self.out_kind = next((g for g in kind.groups() if g), None) if kind else None
        value = re.search(
            r"(?:value_type|value of the output) (?:of the (?:aligned result|output) )?"
            r"(?:is |has value_type )?(DOUBLE|INT64|the same)|value_type (DOUBLE|INT64)",
            text,
        )
        found = next((g for g in value.groups() if g), "the same") if value else "the same"
        self.out_value = None if found == "the same" else found

    def accepts(self, kind, value):
        return kind in self.kinds and value in self.values

    def apply(self, kind, value):
        """(kind, value type) of the output for an input of `kind` and `value`."""
        return self.out_kind or kind, self.out_value or value


def _enum_rules(enum):
    doc = enum.__doc__.split("Values:", 1)[1]
    entries = re.split(r"\n\s{6}(?=[A-Z0-9_]+: )", "\n" + doc)
    rules = {}
    for entry in entries:
        name, _, text = entry.strip().partition(": ")
        if name in enum.names():
            rules[name] = Rule(text)
    return rules


@cache
def aggregation_rules():
    """({aligner: Rule}, {reducer: Rule}) from the installed SDK's Aggregation message."""
    v3, _, _ = modules()
    return (
        _enum_rules(v3.Aggregation.PerSeriesAlignerValueValuesEnum),
        _enum_rules(v3.Aggregation.CrossSeriesReducerValueValuesEnum),
    )


def aggregation_problems(aligner, reducer, kind, value):
    """Why `aligner` then `reducer` cannot aggregate a metric of `kind` and `value` type."""
    aligners, reducers = aggregation_rules()
    if aligner == "ALIGN_NONE":
        return [] if reducer == "REDUCE_NONE" else [f"{reducer} needs an aligner"]
    rule = aligners[aligner]
    if not rule.accepts(kind, value):
        return [f"{aligner} does not apply to a {kind} {value} metric"]
    if reducer == "REDUCE_NONE":
        return []
    kind, value = rule.apply(kind, value)
    if not reducers[reducer].accepts(kind, value):
        return [f"{reducer} does not apply to {aligner}'s {kind} {value} output"]
    return []


def _queries(node):
    """(filter, aggregation) of every query in a policy or dashboard document."""
    if isinstance(node, list):
        for item in node:
            yield from _queries(item)
    elif isinstance(node, dict):
        for filter_key, agg_key in (
            ("filter", "aggregation"),
            ("filter", "aggregations"),
            ("denominatorFilter", "denominatorAggregations"),
        ):
            if filter_key in node and agg_key in node:
                aggs = node[agg_key]
                for agg in aggs if isinstance(aggs, list) else [aggs]:
                    yield node[filter_key], agg
        for v in node.values():
            yield from _queries(v)


def misaggregated(doc):
    """Every aggregation in `doc` that its metric's kind and value type do not allow."""
    out = []
    for filt, agg in _queries(doc):
        for metric in METRIC_TYPE.findall(filt):
            m = published_metrics().get(metric)
            if m is None:
                continue  # unknown_metrics reports it
            aligner = agg.get("perSeriesAligner", "ALIGN_NONE")
            reducer = agg.get("crossSeriesReducer", "REDUCE_NONE")
            for p in aggregation_problems(aligner, reducer, m["kind"], m["value"]):
                out.append(f"{metric}: {p}")
    return out

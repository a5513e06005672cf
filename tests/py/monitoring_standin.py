"""A stand-in gcloud for monitoring.sh, offline.

Each call goes through gcloud_standin's checks first (the recorded command surface and the
explicit --project/--quiet policy); then the monitoring commands are simulated against a
state file: channels, alert policies, uptime checks and dashboards, each found by display
name in `list --filter='displayName="..."'`. Every JSON document a command reads is checked
against the API's message types (monitoring_api.py) and its metric types against Cloud
Run's published list; a policy's channels must exist. Calls are logged like the stand-in's.
"""

import json
import os
import re
import sys
from pathlib import Path

import gcloud_standin as standin
import monitoring_api

# Collection, and the message type of the document its create/update reads, by command group.
GROUPS = {
    "beta monitoring channels": (
        "channels",
        "NotificationChannel",
        "--channel-content-from-file",
    ),
    "alpha monitoring policies": ("policies", "AlertPolicy", "--policy-from-file"),
    "monitoring dashboards": ("dashboards", "Dashboard", "--config-from-file"),
    "monitoring uptime": ("uptime", None, None),
}
COLLECTION_NAME = {
    "channels": "notificationChannels",
    "policies": "alertPolicies",
    "dashboards": "dashboards",
    "uptime": "uptimeCheckConfigs",
}


def document(call, flag, type_name, record):
    text = standin.read_arg_file(call, flag)
    record["files"][flag] = text
    doc = json.loads(text)
    bad = monitoring_api.problems(doc, type_name) + [
        f"unpublished metric type {m}" for m in monitoring_api.unknown_metrics(doc)
    ]
    if bad:
        raise standin.Api("INVALID_ARGUMENT: " + "; ".join(bad))
    return doc


def uptime_settings(call):
    keys = (
        "--path",
        "--port",
        "--validate-ssl",
        "--period",
        "--timeout",
        "--protocol",
        "--resource-type",
        "--resource-labels",
    )
    return {k: call.one(k) for k in keys if call.has(k)}


def simulate(call, state, record):
    group, verb = call.command.rsplit(" ", 1)
    kind, type_name, flag = GROUPS[group]
    items = state.setdefault(kind, {})
    project = call.one("--project")
    if verb in ("list", "list-configs"):
        m = re.fullmatch(r'displayName="(.*)"', call.one("--filter") or "")
        if not m:
            raise standin.Usage("the stand-in lists by displayName only")
        return "".join(
            f"{n}\n" for n, item in items.items() if item["displayName"] == m[1]
        )
    if verb == "create":
        name = f"projects/{project}/{COLLECTION_NAME[kind]}/{len(items) + 1}"
        item = (
            {"displayName": call.positionals[0], **uptime_settings(call)}
            if flag is None
            else document(call, flag, type_name, record)
        )
    else:
        name = call.positionals[0]
        if name not in items:
            raise standin.Api(f"NOT_FOUND: {name}")
        item = (
            {**items[name], **uptime_settings(call)}
            if flag is None
            else document(call, flag, type_name, record)
        )
    channels = call.one("--notification-channels") or call.one(
        "--set-notification-channels"
    )
    if channels is not None:
        item["notificationChannels"] = channels.split(",")
    for c in item.get("notificationChannels", []):
        if c not in state.get("channels", {}):
            raise standin.Api(f"NOT_FOUND: notification channel {c}")
    items[name] = item
    return f"{name}\n" if "value(name)" in (call.one("--format") or "") else ""


def main(argv):
    surface = json.loads(standin.SURFACE_PATH.read_text())
    state_path = Path(os.environ["MLGEN_GCLOUD_STATE"])
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    record = {"argv": argv, "files": {}}
    out, code, error = "", 0, None
    try:
        key, raw, positionals = standin.parse(argv, surface)
        call = standin.check(key, raw, positionals, surface)
        record["command"] = key
        standin.check_policy(call)
        out = simulate(call, state, record)
        state_path.write_text(json.dumps(state, indent=1))
    except standin.GcloudError as e:
        code, error = e.code, str(e)
    record["rc"] = code
    if error:
        record["error"] = error
    with open(os.environ["MLGEN_GCLOUD_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    if error:
        print(f"ERROR: {error}", file=sys.stderr)
    sys.stdout.write(out)
    return code


if __name__ == "__main__":
    monitoring_api.modules()  # the SDK's modules import ssl, which needs the real socket
    standin.disable_network()
    sys.exit(main(sys.argv[1:]))

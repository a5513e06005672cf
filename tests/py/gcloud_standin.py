"""A stand-in `gcloud` that checks every call the generated scripts make, offline.

Put a `gcloud` wrapper that runs this file first on PATH (test_gcloud.py does). Each call is:

1. checked against gcloud's real command surface, gcloud_surface.json, extracted from the
   installed SDK by gcloud_surface.py: the command path, flag names, arity, static choices,
   integer values, required flags and positionals, mutually exclusive and required groups,
   and the keys of KEY=VALUE flags (probe keys, volume keys and volume types). A misspelt
   flag, an unknown command, a bad choice or a missing required value fails with exit 2,
   as gcloud's parser does (gcloud reports a few of these later, with exit 1: a bad probe
   key, a bad volume type). It is stricter than gcloud in one way: a flag given twice
   fails unless gcloud merges repeats (gcloud keeps the last one silently).
2. checked against what a script must always say because nothing else is configured here:
   --project on every call, --region on run commands, --location on Artifact Registry
   commands, --quiet on everything but reads (a prompt would hang a script), and a
   service name for `run deploy`.
3. simulated against a state file: describe fails until create ran, create fails if the
   resource exists, bindings need their resource, `run deploy` needs the runtime service
   account, an image pushed to an existing repository (or built elsewhere), secretAccessor
   on every secret it reads, read on the model's managed folder (or bucket) it mounts, and,
   for an image in another project's repository, read there for the project's Cloud Run
   service agent; removing a binding that is not there fails with gcloud's own message.
   Labels follow `--clear-labels` then `--update-labels`, as gcloud applies them. What the
   deployment uses but does not create (secrets, buckets, managed folders, other projects'
   repositories) exists unless the state lists it under "absent". The pipeline's setup:
   Workload Identity pools and their OIDC providers, a principal set only of an existing
   pool (by project number), a Cloud Build trigger only as an existing account. `--format=value(KEY)`,
   `--flatten` and `--filter=KEY=VALUE` are applied to what describe and get-iam-policy
   return, as gcloud's resource projections do for those simple forms. API failures exit 1.
4. recorded as one JSON line in the log file: argv, cwd, exit status, error, the contents
   of any file a flag names (--env-vars-file, --config) and, for `builds submit`, the
   files the upload would contain after the ignore file.

It never reaches the network: sockets are disabled before anything else runs.

Environment: MLGEN_GCLOUD_STATE (state file, required), MLGEN_GCLOUD_LOG (JSON lines,
required), MLGEN_GCLOUD_SURFACE (defaults to gcloud_surface.json beside this file).
"""

import copy
import difflib
import hashlib
import itertools
import json
import os
import re
import socket
import sys
import tomllib
from pathlib import Path


def _no_network(*_args, **_kwargs):
    raise OSError("the stand-in gcloud never opens a network connection")


def disable_network():
    """Makes every socket this process opens fail. Called when the stand-in runs as gcloud,
    not when a test imports a helper from this module."""
    socket.socket = _no_network  # type: ignore[assignment]
    socket.create_connection = _no_network  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
SURFACE_PATH = Path(os.environ.get("MLGEN_GCLOUD_SURFACE", HERE / "gcloud_surface.json"))

EXIT_USAGE = 2
EXIT_API = 1

ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$")
MEMBER = re.compile(r"^(user|group|serviceAccount|domain|principal|principalSet):\S+$")
RUN_AGENT = "serviceAccount:service-{}@serverless-robot-prod.iam.gserviceaccount.com"
AR_IMAGE = re.compile(r"^(?P<loc>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)/(?P<rest>.+)$")
DOCKER_BUILDER = "gcr.io/cloud-builders/docker"


class GcloudError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class Usage(GcloudError):
    def __init__(self, message):
        super().__init__(message, EXIT_USAGE)


class Api(GcloudError):
    def __init__(self, message):
        super().__init__(message, EXIT_API)


# ---------------------------------------------------------------------------- parsing


class Call:
    """A parsed command line: command path, flags (name -> list of values), positionals."""

    def __init__(self, command, flags, positionals):
        self.command = command
        self.flags = flags
        self.positionals = positionals

    def has(self, name):
        return name in self.flags

    def one(self, name, default=None):
        values = self.flags.get(name)
        return values[-1] if values else default


def split_dict(text):
    """gcloud's ArgDict/ArgList splitting: on `,`, or on DELIM after a `^DELIM^` prefix."""
    delim = ","
    m = re.match(r"^\^([^^]+)\^", text)
    if m:
        delim = m.group(1)
        text = text[m.end():]
    if text == "":
        return []
    return text.split(delim)


def parse_dict(flag, text, key_only=False):
    """KEY=VALUE items; a bare KEY (value None) only where gcloud allows it."""
    items = {}
    for item in split_dict(text):
        key, eq, value = item.partition("=")
        if not eq and key_only:
            items[key] = None
            continue
        if not eq:
            raise Usage(f"argument {flag}: Bad syntax for dict arg: [{item}]. Please see "
                        "`gcloud topic flags-file` or `gcloud topic escaping` for information on "
                        "providing list or dictionary flag values with special characters.")
        items[key] = value
    return items


def parse(argv, surface):
    commands = surface["commands"]
    groups = surface["subcommands"]
    path = []
    key = None
    raw_flags = []  # (name, value-or-None, index)
    positionals = []
    i = 0
    any_flags = {}
    for spec in commands.values():
        any_flags.update(spec["flags"])
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            positionals.extend(argv[i + 1:])
            break
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            flags = commands[key]["flags"] if key else any_flags
            spec = flags.get(name)
            if not eq and spec is not None and spec["nargs"] != "0":
                if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                    raise Usage(f"argument {name}: expected one argument")
                value = argv[i + 1]
                i += 1
            raw_flags.append((name, value if (eq or (spec and spec["nargs"] != "0")) else None))
            i += 1
            continue
        if key is None:
            here = " ".join(path)
            candidate = " ".join(path + [tok])
            if candidate in commands:
                key = candidate
            elif candidate in groups:
                path.append(tok)
            elif tok in groups.get(here, []):
                raise Usage(f"`gcloud {candidate}` exists in gcloud but not in the recorded surface; "
                            "add it to COMMANDS in tests/py/gcloud_surface.py and regenerate")
            else:
                where = ".".join(["gcloud", *path])
                choices = difflib.get_close_matches(tok, groups.get(here, []), n=1)
                hint = f" Did you mean '{choices[0]}'?" if choices else ""
                raise Usage(f"({where}) Invalid choice: '{tok}'.{hint}")
            i += 1
            continue
        positionals.append(tok)
        i += 1
    if key is None:
        raise Usage(f"(gcloud{'.' if path else ''}{'.'.join(path)}) Command name argument expected.")
    return key, raw_flags, positionals


def check(key, raw_flags, positionals, surface):
    spec = surface["commands"][key]
    flags = spec["flags"]
    where = "gcloud." + key.replace(" ", ".")
    seen = {}
    for name, value in raw_flags:
        f = flags.get(name)
        if f is None:
            close = difflib.get_close_matches(name, [n for n, s in flags.items() if not s["hidden"]], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise Usage(f"({where}) unrecognized arguments: {name}{hint}")
        if f["hidden"]:
            positive = flags.get("--" + name[len("--no-"):]) if name.startswith("--no-") else None
            if not (positive and positive["type"] == "bool" and not positive["hidden"]):
                raise Usage(f"({where}) {name} is a hidden flag, not part of the documented surface")
        if name in seen and not f["repeatable"]:
            raise Usage(f"({where}) argument {name}: given more than once")
        if f["nargs"] == "0":
            if value is not None:
                raise Usage(f"({where}) argument {name}: ignored explicit argument '{value}'")
        else:
            if f.get("choices") and value not in f["choices"]:
                raise Usage(f"({where}) argument {name}: Invalid choice: '{value}'. "
                            f"Valid choices are [{', '.join(f['choices'])}].")
            if f["type"] == "int" and not re.fullmatch(r"-?\d+", value or ""):
                raise Usage(f"({where}) argument {name}: invalid int value: '{value}'")
            if f["type"] == "dict":
                check_dict(where, name, f, parse_dict(name, value, f.get("dict_key_only", False)))
        seen.setdefault(name, []).append(value)
    # Positionals.
    want = spec["positionals"]
    lo = sum(1 for p in want if p["nargs"] in ("1", "+"))
    hi = None if any(p["nargs"] in ("*", "+") for p in want) else sum(
        1 if p["nargs"] in ("1", "?") else 0 for p in want)
    if len(positionals) < lo:
        missing = [p["name"] for p in want if p["required"]][len(positionals):]
        raise Usage(f"({where}) argument {' '.join(m.upper() for m in missing)}: Must be specified.")
    if hi is not None and len(positionals) > hi:
        raise Usage(f"({where}) unrecognized arguments: {' '.join(positionals[hi:])}")
    given_pos = {p["name"] for p, _ in zip(want, positionals, strict=False)}
    present = set(seen) | given_pos
    for name, f in flags.items():
        if f["required"] and name not in seen:
            raise Usage(f"({where}) argument {name}: Must be specified.")
    for g in spec["groups"]:
        hit = [m for m in g["members"] if present & set(m)]
        if g["mutex"] and len(hit) > 1:
            raise Usage(f"({where}) argument {hit[0][0]}: At most one of "
                        f"{' | '.join(m[0] for m in g['members'])} can be specified.")
        if g["required"] and not hit:
            raise Usage(f"({where}) Exactly one of ({' | '.join(m[0] for m in g['members'])}) "
                        "must be specified.")
        if hit and not g["mutex"]:
            for name in g["required_members"]:
                if name not in present:
                    raise Usage(f"({where}) argument {name}: Must be specified.")
    return Call(key, seen, positionals)


def check_dict(where, name, f, items):
    keys = f.get("dict_keys")
    if keys is not None:
        for k in items:
            if k not in keys:
                raise Usage(f"({where}) argument {name}: Key [{k}] not recognized; "
                            f"supported keys are: {', '.join(keys)}")
    for k in f.get("dict_required_keys", []):
        if k not in items:
            raise Usage(f"({where}) argument {name}: Key [{k}] required in dict arg but not provided")
    types = f.get("volume_types")
    if types is not None:
        kind = items.get("type")
        if kind not in types:
            raise Usage(f"({where}) Volume type {kind} not supported")
        allowed = {"name", "type", *types[kind]["required"], *types[kind]["optional"]}
        for k in items:
            if k not in allowed:
                raise Usage(f"({where}) argument {name}: Key [{k}] not recognized for a {kind} volume")
        for k in types[kind]["required"]:
            if k not in items:
                raise Usage(f"({where}) argument {name}: a {kind} volume needs {k}")


def check_policy(call):
    """What a script must always say, because the stand-in has no ambient configuration."""
    where = "gcloud." + call.command.replace(" ", ".")
    # `projects` commands name their project as the positional.
    needs = [] if call.command.startswith("projects ") else ["--project"]
    if call.command.removeprefix("beta ").startswith("run "):
        needs.append("--region")
    if call.command.startswith("artifacts repositories "):
        needs.append("--location")
    if not call.command.endswith((" describe", " get-iam-policy")):  # reads never prompt
        needs.append("--quiet")
    for n in needs:
        if not call.has(n):
            raise Usage(f"({where}) {n} must be given explicitly: scripts must not depend on "
                        "local gcloud configuration or prompts")
    if call.command.removeprefix("beta ") == "run deploy" and not call.positionals:
        raise Usage(f"({where}) the service name must be given (gcloud would prompt)")


# ---------------------------------------------------------------------------- simulation


class State:
    def __init__(self, path):
        self.path = Path(path)
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
        else:
            self.data = {}
        # images: every pushed tag (IMAGE:TAG) -> the digest it resolves to.
        for k, empty in (("apis", {}), ("accounts", {}), ("repositories", {}),
                         ("bindings", []), ("images", {}), ("services", {}), ("absent", []),
                         ("pools", {}), ("triggers", {}), ("buckets", {})):
            self.data.setdefault(k, empty)

    def save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        tmp.replace(self.path)


def read_arg_file(call, flag):
    path = Path(call.one(flag))
    if not path.is_file():
        raise Usage(f"(gcloud.{call.command.replace(' ', '.')}) argument {flag}: "
                    f"Unable to read file [{path}]")
    return path.read_text(encoding="utf-8")


def project_number(project):
    """A stable made-up number per project."""
    return str(100000000000 + sum(ord(c) * 31 ** i for i, c in enumerate(project)) % 900000000000)


def lookup(obj, key):
    """`a.b` of nested dicts, or None; `a[0]` indexes a list and `a[].b` maps over one, as
    gcloud's resource keys do."""
    if not key:
        return obj
    part, _, rest = key.partition(".")
    m = re.fullmatch(r"(\w+)(?:\[(\d*)\])?", part)
    if m is None:
        raise Usage(f"the stand-in does not simulate the resource key {key}")
    obj = obj.get(m[1]) if isinstance(obj, dict) else None
    if m[2] is None or not isinstance(obj, list):
        return lookup(obj, rest) if obj is not None else None
    if m[2]:
        return lookup(obj[int(m[2])], rest) if int(m[2]) < len(obj) else None
    found = [lookup(item, rest) for item in obj]
    return [v for v in found if v is not None]


def projected(call, obj):
    """What gcloud prints for OBJ under --flatten, --filter and --format=value(...): the
    simple forms the scripts use. Without --format, a YAML-ish line per top-level key."""
    rows = [obj]
    flatten = call.one("--flatten")
    if flatten is not None:
        m = re.fullmatch(r"(\w+)\[\]\.(\w+)", flatten)
        nested = re.fullmatch(r"([\w.]+)\[\]", flatten)
        if m:
            outer, inner = m.groups()
            rows = [{outer: {**item, inner: value}} for item in obj.get(outer, []) for value in item.get(inner, [])]
        elif nested:  # one row per item of the list at that key, the item in its place
            *path, last = nested[1].split(".")
            rows = []
            for item in lookup(obj, nested[1]) or []:
                row = copy.deepcopy(obj)
                parent = lookup(row, ".".join(path)) if path else row
                parent[last] = item
                rows.append(row)
        else:
            raise Usage(f"the stand-in does not simulate --flatten={flatten}")
    filt = call.one("--filter")
    if filt is not None:
        key, eq, want = filt.partition("=")
        if not eq:
            raise Usage(f"the stand-in does not simulate --filter={filt}")
        rows = [r for r in rows if lookup(r, key) == want]
    fmt = call.one("--format")
    if fmt is None:
        return "".join(f"{k}: {v}\n" for k, v in obj.items())
    m = re.fullmatch(r"value\(([\w.\[\]]+(?:,[\w.\[\]]+)*)\)", fmt)
    if not m:
        raise Usage(f"the stand-in does not simulate --format={fmt}")

    def value(v):  # value() prints a list's items joined by `;`, nothing for None
        return ";".join(map(str, v)) if isinstance(v, list) else "" if v is None else str(v)

    return "".join("\t".join(value(lookup(r, k)) for k in m[1].split(",")) + "\n" for r in rows)


def policy(s, kind, resource):
    """A resource's IAM policy from the recorded bindings."""
    roles = {}
    for b in s["bindings"]:
        if b[:2] == [kind, resource]:
            roles.setdefault(b[2], []).append(b[3])
    return {"bindings": [{"role": r, "members": m} for r, m in sorted(roles.items())]}


def simulate(call, state, record):
    import yaml  # noqa: PLC0415 (kept out of the import path of a usage error)

    s = state.data
    project = call.one("--project")
    cmd = call.command.removeprefix("beta ")
    pos = call.positionals
    where = "gcloud." + cmd.replace(" ", ".")

    def binding(kind, resource):
        member, role = call.one("--member"), call.one("--role")
        if not MEMBER.match(member or ""):
            raise Api(f"({where}) INVALID_ARGUMENT: Invalid principal: {member}")
        if member.startswith("principalSet:") and not federated(member, s):
            raise Api(f"({where}) INVALID_ARGUMENT: Identity Pool does not exist ({member}).")
        if not (role or "").startswith("roles/"):
            raise Api(f"({where}) INVALID_ARGUMENT: Role {role} is not supported")
        if call.one("--condition") != "None":
            raise Usage(f"({where}) pass --condition=None: a policy with conditional bindings "
                        "makes gcloud refuse a binding without one when it cannot prompt")
        return [kind, resource, role, member]

    def service_key(name):
        return f"{project}/{call.one('--region')}/{name}"

    if cmd == "services enable":
        if not pos:
            raise Usage(f"({where}) argument SERVICE: Must be specified.")
        s["apis"].setdefault(project, [])
        for api in pos:
            if api not in s["apis"][project]:
                s["apis"][project].append(api)
        return ""

    if cmd.startswith("iam service-accounts "):
        verb = cmd.split()[-1]
        if verb == "create":
            account_id = pos[0]
            if not ACCOUNT_ID.match(account_id):
                raise Api(f"({where}) INVALID_ARGUMENT: Invalid account id {account_id}")
            email = f"{account_id}@{project}.iam.gserviceaccount.com"
            if email in s["accounts"]:
                raise Api(f"({where}) Resource in projects [{project}] is the subject of a conflict: "
                          f"Service account {account_id} already exists within project projects/{project}.")
            s["accounts"][email] = {"display_name": call.one("--display-name"),
                                    "description": call.one("--description")}
            return f"Created service account [{account_id}].\n"
        email = pos[0]
        if email not in s["accounts"]:
            raise Api(f"({where}) NOT_FOUND: Service account projects/{project}/serviceAccounts/{email} "
                      "does not exist.")
        if verb == "describe":
            return projected(call, {"email": email, **s["accounts"][email]})
        if verb == "get-iam-policy":
            return projected(call, policy(s, "service_account", email))
        if verb == "delete":
            del s["accounts"][email]
            s["bindings"] = [b for b in s["bindings"] if b[:2] != ["service_account", email]]
            return ""
        return policy_change(call, s, binding("service_account", email))

    if cmd.startswith("artifacts repositories "):
        verb = cmd.split()[-1]
        rkey = f"{project}/{call.one('--location')}/{pos[0]}"
        if verb == "create":
            if rkey in s["repositories"]:
                raise Api(f"({where}) ALREADY_EXISTS: the repository already exists")
            labels = parse_dict("--labels", call.one("--labels")) if call.has("--labels") else {}
            s["repositories"][rkey] = {"format": call.one("--repository-format"),
                                       "description": call.one("--description"), "labels": labels}
            return ""
        # Another project's repository is not the deployment's: it exists unless absent.
        foreign = project not in s["apis"] and f"repositories/{rkey}" not in s["absent"]
        if rkey not in s["repositories"] and not (foreign and verb.endswith("-iam-policy-binding")):
            raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
        if verb.endswith("-iam-policy-binding"):
            return policy_change(call, s, binding("repository", rkey))
        if verb == "get-iam-policy":
            return projected(call, policy(s, "repository", rkey))
        if verb == "describe":
            return projected(call, s["repositories"][rkey])
        if verb == "delete":
            del s["repositories"][rkey]
            prefix = "{1}-docker.pkg.dev/{0}/{2}/".format(*rkey.split("/"))
            s["images"] = {t: d for t, d in s["images"].items() if not t.startswith(prefix)}
        return ""

    if cmd.startswith("secrets "):
        if f"secrets/{project}/{pos[0]}" in s["absent"]:
            raise Api(f"({where}) NOT_FOUND: Secret [projects/{project}/secrets/{pos[0]}] not found.")
        if cmd == "secrets describe":
            return f"name: projects/{project}/secrets/{pos[0]}\n"
        if cmd == "secrets get-iam-policy":
            return projected(call, policy(s, "secret", pos[0]))
        return policy_change(call, s, binding("secret", pos[0]))

    if cmd.startswith("storage buckets ") or cmd == "storage rm":
        m = re.fullmatch(r"gs://([a-z0-9][-a-z0-9_.]{1,220}[a-z0-9])/?", pos[0] if pos else "")
        if not m:
            raise Usage(f"({where}) Expected a bucket URL (gs://BUCKET), got {pos}")
        if cmd == "storage buckets create":
            return create_bucket(call, s, record, m[1], where)
        if f"buckets/{m[1]}" in s["absent"]:
            raise Api(f"({where}) gs://{m[1]} not found: 404.")
        if cmd == "storage buckets describe":
            return projected(call, {"name": m[1], **s["buckets"].get(m[1], {})})
        if cmd == "storage buckets update":
            labels = s["buckets"].setdefault(m[1], {}).setdefault("labels", {})
            labels.update(parse_dict("--update-labels", call.one("--update-labels") or ""))
            return ""
        if cmd == "storage rm":
            if not call.has("--recursive"):
                raise Api(f"({where}) gs://{m[1]} is a bucket: pass --recursive (-r) to delete it with its objects")
            s["buckets"].pop(m[1], None)
            s["absent"].append(f"buckets/{m[1]}")
            s["bindings"] = [b for b in s["bindings"] if b[:2] != ["bucket", m[1]]]
            return ""
        if cmd == "storage buckets get-iam-policy":
            return projected(call, policy(s, "bucket", m[1]))
        return policy_change(call, s, binding("bucket", m.group(1)))

    if cmd.startswith("storage managed-folders "):
        # The API's id of a managed folder: BUCKET/FOLDER/, the folder ending in `/`.
        m = re.fullmatch(r"gs://([a-z0-9][-a-z0-9_.]{1,220}[a-z0-9])/(\S+/)", pos[0])
        if not m:
            raise Usage(f"({where}) Expected a managed folder URL (gs://BUCKET/FOLDER/), got {pos[0]}")
        folder = f"{m[1]}/{m[2]}"
        if f"buckets/{m[1]}" in s["absent"] or f"managedFolders/{folder}" in s["absent"]:
            raise Api(f"({where}) gs://{folder} not found: 404.")
        if cmd == "storage managed-folders describe":
            return f"name: {m[2]}\nbucket: {m[1]}\n"
        if cmd == "storage managed-folders get-iam-policy":
            return projected(call, policy(s, "managed_folder", folder))
        return policy_change(call, s, binding("managed_folder", folder))

    if cmd == "quotas info describe":
        return projected(call, quota_info(s, pos[0]))

    if cmd == "projects describe":
        return projected(call, {"projectId": pos[0], "projectNumber": project_number(pos[0])})

    if cmd in ("projects add-iam-policy-binding", "projects remove-iam-policy-binding"):
        return policy_change(call, s, binding("project", pos[0]))

    if cmd.startswith("iam workload-identity-pools "):
        return workload_identity(call, s, where)

    if cmd.startswith("builds triggers "):
        return trigger(call, s, where)

    if cmd == "builds submit":
        return build(call, s, record, yaml)

    if cmd == "artifacts docker images describe":
        return describe_image(call, s, pos[0])

    if cmd == "run deploy":
        return deploy(call, s, record, yaml, service_key(pos[0]))

    if cmd.startswith("run services "):
        verb = cmd.split()[-1]
        skey = service_key(pos[0])
        if skey not in s["services"]:
            raise Api(f"({where}) Service [{pos[0]}] could not be found.")
        if verb == "describe":
            if call.has("--format"):
                return projected(call, knative(pos[0], s["services"][skey]))
            return f"metadata:\n  name: {pos[0]}\n"
        if verb == "get-iam-policy":
            return projected(call, policy(s, "service", skey))
        if verb == "update-traffic":
            return traffic(call, where)
        if verb == "delete":
            del s["services"][skey]
            s["bindings"] = [b for b in s["bindings"] if b[:2] != ["service", skey]]
            return ""
        return policy_change(call, s, binding("service", skey))

    raise Usage(f"({where}) the stand-in does not simulate this command yet")


def traffic(call, where):
    """`run services update-traffic`: percents are whole numbers from 0 to 100 (what the
    traffic then is, the control plane works out)."""
    for flag in ("--to-revisions", "--to-tags"):
        for value in call.flags.get(flag, []):
            for target, percent in parse_dict(flag, value).items():
                if not (percent.isdigit() and int(percent) <= 100):
                    raise Usage(f"({where}) {flag} {target}: {percent!r} is not a percent from 0 to 100")
    return ""


PRINCIPAL_SET = re.compile(
    r"^principalSet://iam\.googleapis\.com/projects/(?P<number>\d+)/locations/(?P<location>[a-z0-9-]+)/"
    r"workloadIdentityPools/(?P<pool>[a-z0-9-]+)/attribute\.[a-z_]+/\S+$")


def federated(member, s):
    """Whether a principal set names, by project number, a pool that exists."""
    m = PRINCIPAL_SET.match(member)
    return bool(m) and any(
        project_number(key.split("/")[0]) == m["number"] and key.split("/")[1:] == [m["location"], m["pool"]]
        and pool.get("state") != "DELETED" for key, pool in s["pools"].items())


def workload_identity(call, s, where):
    """Pools and their OIDC providers: describe fails until create ran, create fails if it
    exists, a provider needs its pool, update needs the provider."""
    cmd = call.command.removeprefix("iam workload-identity-pools ")
    location = call.one("--location")
    if not cmd.startswith("providers "):
        key = f"{call.one('--project')}/{location}/{call.positionals[0]}"
        if cmd == "create":
            if key in s["pools"]:
                raise Api(f"({where}) ALREADY_EXISTS: Requested entity already exists")
            s["pools"][key] = {"display_name": call.one("--display-name"),
                               "description": call.one("--description"), "providers": {}, "state": "ACTIVE"}
            return ""
        if key not in s["pools"]:
            raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
        pool = s["pools"][key]
        if cmd in ("delete", "undelete"):  # a deleted pool keeps its id (and providers) for 30 days
            if (pool.get("state") == "DELETED") == (cmd == "delete"):
                raise Api(f"({where}) FAILED_PRECONDITION: the pool is {pool.get('state', 'ACTIVE')}")
            pool["state"] = "DELETED" if cmd == "delete" else "ACTIVE"
            return ""
        return projected(call, {"name": key, "description": pool["description"],
                                "displayName": pool["display_name"], "state": pool.get("state", "ACTIVE")})
    pool_key = f"{call.one('--project')}/{location}/{call.one('--workload-identity-pool')}"
    if pool_key not in s["pools"]:
        raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
    providers = s["pools"][pool_key]["providers"]
    provider = call.positionals[0]
    verb = cmd.split()[-1]
    if (verb == "create-oidc") == (provider in providers):
        raise Api(f"({where}) " + ("ALREADY_EXISTS: Requested entity already exists" if provider in providers
                                   else "NOT_FOUND: Requested entity was not found."))
    if verb == "describe":
        return projected(call, {"name": provider, **providers[provider]})
    previous = providers.get(provider, {})
    providers[provider] = {
        "issuer_uri": call.one("--issuer-uri", previous.get("issuer_uri")),
        "attribute_mapping": parse_dict("--attribute-mapping", call.one("--attribute-mapping")),
        "attribute_condition": call.one("--attribute-condition"),
    }
    return ""


def trigger(call, s, where):
    """Cloud Build triggers by name: created once, running as an existing service account."""
    project = call.one("--project")
    if call.command in ("builds triggers describe", "builds triggers delete"):
        key = f"{project}/{call.positionals[0]}"
        if key not in s["triggers"]:
            raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
        if call.command.endswith("delete"):
            del s["triggers"][key]
            return ""
        return projected(call, {"name": call.positionals[0], **s["triggers"][key]})
    updating = call.command == "builds triggers update github"
    name = call.positionals[0] if updating else call.one("--name")
    key = f"{project}/{name}"
    if updating and key not in s["triggers"]:
        raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
    if not updating and key in s["triggers"]:
        raise Api(f"({where}) ALREADY_EXISTS: trigger {name} already exists")
    account = (call.one("--service-account") or "").rsplit("/", 1)[-1]
    if account not in s["accounts"]:
        raise Api(f"({where}) INVALID_ARGUMENT: service account {account} does not exist")
    kept = s["triggers"].get(key, {}).get("description") if updating else call.one("--description")
    s["triggers"][key] = {"service_account": account, "build_config": call.one("--build-config"),
                          "description": kept}
    return ""


def create_bucket(call, s, record, name, where):
    """A bucket this deployment creates: absent until created; its lifecycle file read as
    gcloud reads it."""
    if name in s["buckets"] or f"buckets/{name}" not in s["absent"]:
        raise Api(f"({where}) HTTPError 409: The requested bucket name is not available.")
    if call.has("--lifecycle-file"):
        text = read_arg_file(call, "--lifecycle-file")
        record["files"]["--lifecycle-file"] = text
        if not isinstance(json.loads(text).get("rule"), list):
            raise Api(f"({where}) the lifecycle file holds no `rule` list")
    s["absent"].remove(f"buckets/{name}")
    s["buckets"][name] = {"location": (call.one("--location") or "US").upper(), "labels": {}}
    return ""


def policy_change(call, s, b):
    if call.command.endswith("remove-iam-policy-binding"):
        if b not in s["bindings"]:
            raise Api("Policy binding with the specified principal, role, and condition not found!")
        s["bindings"].remove(b)
    elif b not in s["bindings"]:
        s["bindings"].append(b)
    return "Updated IAM policy.\n"


def describe_image(call, s, ref):
    """`gcloud artifacts docker images describe IMAGE:TAG`, as the one format scripts read."""
    where = "gcloud.artifacts.docker.images.describe"
    if ref not in s["images"]:
        raise Api(f"({where}) NOT_FOUND: Requested entity was not found.")
    path = ref.rpartition(":")[0]
    fmt = call.one("--format")
    if fmt != "value(image_summary.fully_qualified_digest)":
        raise Usage(f"({where}) the stand-in prints only --format='value(image_summary.fully_qualified_digest)'")
    return f"{path}@{s['images'][ref]}\n"


def substitute(text, substitutions):
    """Cloud Build's substitution of `$_NAME` and `${_NAME}` in a build config value."""
    return re.sub(r"\$\{?(_[A-Z0-9_]+)\}?", lambda m: substitutions.get(m[1], m[0]), text)


def upload_digest(source, upload):
    """A digest standing for what the upload builds: equal uploads give equal digests."""
    h = hashlib.sha256()
    for rel in upload:
        h.update(rel.encode() + b"\0" + (source / rel).read_bytes() + b"\0")
    return f"sha256:{h.hexdigest()}"


def build(call, s, record, yaml):
    import pathspec  # noqa: PLC0415

    where = "gcloud.builds.submit"
    source = Path(call.positionals[0] if call.positionals else ".")
    if not source.is_dir():
        raise Usage(f"({where}) could not find source [{source}]")
    ignore_name = call.one("--ignore-file")
    if ignore_name is None:
        raise Usage(f"({where}) pass --ignore-file: without it the upload depends on whatever "
                    ".gcloudignore or .gitignore happens to sit in the build context")
    ignore_path = Path(os.path.join(source, ignore_name))  # how gcloud resolves it
    if not ignore_path.is_file():
        raise Usage(f"({where}) the ignore file [{ignore_path}] does not exist")
    spec = pathspec.GitIgnoreSpec.from_lines(ignore_path.read_text().splitlines())
    upload = sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and not spec.match_file(p.relative_to(source).as_posix())
    )
    record["upload"] = upload
    if call.has("--tag"):
        tags = [call.one("--tag")]
        if "Dockerfile" not in upload:
            raise Api(f"({where}) --tag builds ./Dockerfile at the root of the upload, and there is none")
    else:
        if not call.has("--config"):
            raise Usage(f"({where}) give --config or --tag")
        text = read_arg_file(call, "--config")
        record["files"]["--config"] = text
        config = yaml.safe_load(text)
        steps = config.get("steps") or []
        if not steps:
            raise Api(f"({where}) INVALID_ARGUMENT: a build needs at least one step")
        substitutions = parse_dict("--substitutions", call.one("--substitutions") or "")
        for key in substitutions:
            if not re.fullmatch(r"_[A-Z0-9_]+", key):
                raise Api(f"({where}) INVALID_ARGUMENT: invalid substitution key {key}")
        config["images"] = [substitute(i, substitutions) for i in config.get("images") or []]
        tags = []
        for step in steps:
            args = [substitute(a, substitutions) for a in step.get("args", [])]
            if step.get("name") == DOCKER_BUILDER and args[:1] == ["build"]:
                opts = dict(zip(args, args[1:], strict=False))
                dockerfile = opts.get("--file", opts.get("-f", "Dockerfile"))
                if dockerfile not in upload:
                    raise Api(f"({where}) the build step's Dockerfile {dockerfile} is not in the upload")
                if args[-1] != ".":
                    raise Api(f"({where}) the build step should build the uploaded context (.)")
                tags += [v for k, v in itertools.pairwise(args) if k in ("--tag", "-t")] or [None]
            for arg in args:
                if re.search(r"\$(?!\$)[A-Za-z_{]", arg):
                    raise Api(f"({where}) INVALID_ARGUMENT: {arg!r} holds an undefined substitution")
        missing = [t for t in tags if t not in (config.get("images") or [])]
        if missing or not tags:
            raise Api(f"({where}) the built image {missing or tags} is not pushed (not in images:)")
    for tag in tags:
        m = AR_IMAGE.match(tag or "")
        if not m:
            raise Api(f"({where}) {tag} is not an Artifact Registry image")
        rkey = f"{m['project']}/{m['loc']}/{m['repo']}"
        if rkey not in s["repositories"]:
            raise Api(f"({where}) push failed: name unknown: Repository \"{m['repo']}\" not found")
        s["images"][tag] = upload_digest(source, upload)
    return "DONE\n"


def deploy(call, s, record, yaml, skey):
    where = "gcloud.run.deploy"
    image = call.one("--image")
    if image is None:
        raise Usage(f"({where}) --image is required (gcloud would build from source instead)")
    m = AR_IMAGE.match(image)
    pushed = set(s["images"]) | {f"{t.rpartition(':')[0]}@{d}" for t, d in s["images"].items()}
    if m and f"{m['project']}/{m['loc']}/{m['repo']}" in s["repositories"] and image not in pushed:
        raise Api(f"({where}) Image '{image}' not found.")
    account = call.one("--service-account")
    if account is None:
        raise Usage(f"({where}) pass --service-account: the default compute account has Editor")
    if account.endswith(".iam.gserviceaccount.com") and account not in s["accounts"] \
            and account.split("@")[1].split(".")[0] == call.one("--project"):
        raise Api(f"({where}) Service account {account} does not exist.")
    env = {}
    if call.has("--env-vars-file"):
        text = read_arg_file(call, "--env-vars-file")
        record["files"]["--env-vars-file"] = text
        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
            raise Usage(f"({where}) argument --env-vars-file: the file must map names to string values")
        env = loaded
    member = f"serviceAccount:{account}"
    for value in call.flags.get("--set-secrets", []):
        for name, ref in parse_dict("--set-secrets", value).items():
            secret, _, version = ref.partition(":")
            if not version:
                raise Usage(f"({where}) --set-secrets {name}: give SECRET:VERSION")
            if ["secret", secret, "roles/secretmanager.secretAccessor", member] not in s["bindings"]:
                raise Api(f"({where}) spec.template.spec.containers[0].env.valueFrom.secretKeyRef.name: "
                          f"Permission denied on secret: projects/{call.one('--project')}/secrets/{secret}"
                          f"/versions/{version} for Revision service account {account}.")
    for value in call.flags.get("--add-volume", []):
        volume = parse_dict("--add-volume", value)
        needs_read(call, s, volume, member)
    if m and m["project"] != call.one("--project"):
        agent = RUN_AGENT.format(project_number(call.one("--project")))
        rkey = f"{m['project']}/{m['loc']}/{m['repo']}"
        if ["repository", rkey, "roles/artifactregistry.reader", agent] not in s["bindings"]:
            raise Api(f"({where}) Google Cloud Run Service Agent {agent.split(':')[1]} must have permission "
                      f"to read the image, {image}.")
    labels = {} if call.has("--clear-labels") else dict(s["services"].get(skey, {}).get("labels", {}))
    for value in call.flags.get("--update-labels", []) + call.flags.get("--labels", []):
        labels.update(parse_dict("--update-labels", value))
    old = s["services"].get(skey, {})
    secrets = {} if call.has("--clear-secrets") else dict(old.get("secrets", {}))
    for value in call.flags.get("--set-secrets", []):
        secrets = parse_dict("--set-secrets", value)
    volumes = [] if call.has("--clear-volumes") else list(old.get("volumes", []))
    volumes += [parse_dict("--add-volume", v) for v in call.flags.get("--add-volume", [])]
    s["services"][skey] = {"image": image, "account": account, "env": env, "labels": labels,
                           "secrets": secrets, "volumes": volumes}
    return f"Service [{call.positionals[0]}] has been deployed.\n"


def quota_info(s, quota_id):
    """A QuotaInfo of the Cloud Quotas API (cloudquotas v1beta): per region, what the state's
    `gpu_quota` grants ({region: GPUs}); without it, ten in every region that offers GPUs."""
    grants = s.get("gpu_quota")
    if grants is None:
        platform = tomllib.loads((Path(__file__).resolve().parents[2] / "data" / "platform.toml").read_text())
        grants = {region: 10 for gpu in platform["gpu"] for region in gpu["regions"]}
    infos = [{"dimensions": {"region": r}, "details": {"value": str(n)}, "applicableLocations": [r]}
             for r, n in sorted(grants.items())]
    return {"quotaId": quota_id, "dimensionsInfos": infos}


def knative(name, service):
    """The service as `run services describe` shows it (Knative serving v1): the parts the
    scripts read, its secret references and its Cloud Storage volumes."""
    env = [{"name": k, "value": v} for k, v in service["env"].items()]
    env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": ref.partition(":")[0], "key": ref.partition(":")[2]}}}
            for k, ref in service.get("secrets", {}).items()]
    volumes = []
    for v in service.get("volumes", []):
        attributes = {"bucketName": v["bucket"]}
        if "mount-options" in v:  # gcloud stores them comma-separated (command_lib/run/volumes.py)
            attributes["mountOptions"] = v["mount-options"].replace(";", ",")
        volumes.append({"name": v["name"], "csi": {"driver": "gcsfuse.run.googleapis.com",
                                                  "volumeAttributes": attributes}})
    containers = [{"image": service["image"], "env": env}]
    return {"metadata": {"name": name},
            "spec": {"template": {"spec": {"serviceAccountName": service["account"],
                                           "containers": containers, "volumes": volumes}}}}


def needs_read(call, s, volume, member):
    """Cloud Run checks, when deploying, that the runtime account can read a mounted bucket:
    the folder `only-dir` mounts, through its managed folder, or the whole bucket."""
    options = dict(o.partition("=")[::2] for o in volume.get("mount-options", "").split(";") if o)
    folder = options.get("only-dir")
    bucket = volume["bucket"]
    viewer = "roles/storage.objectViewer"
    readable = ["bucket", bucket, viewer, member] in s["bindings"] or (
        folder is not None and ["managed_folder", f"{bucket}/{folder}/", viewer, member] in s["bindings"])
    if not readable:
        where = f"gs://{bucket}/{folder or ''}"
        raise Api(f"(gcloud.run.deploy) Permission denied on {where} for Revision service account "
                  f"{member.split(':')[1]}.")


# ---------------------------------------------------------------------------- main


def main(argv):
    state_path = os.environ.get("MLGEN_GCLOUD_STATE")
    log_path = os.environ.get("MLGEN_GCLOUD_LOG")
    if not state_path or not log_path:
        print("stand-in gcloud: set MLGEN_GCLOUD_STATE and MLGEN_GCLOUD_LOG", file=sys.stderr)
        return 3
    surface = json.loads(SURFACE_PATH.read_text())
    record = {"argv": argv, "cwd": os.getcwd(), "files": {}}
    state = State(state_path)
    out, code, error = "", 0, None
    try:
        key, raw, positionals = parse(argv, surface)
        call = check(key, raw, positionals, surface)
        record["command"] = key
        check_policy(call)
        out = simulate(call, state, record)
        state.save()
    except GcloudError as e:
        code, error = e.code, str(e)
    record["rc"] = code
    if error:
        record["error"] = error
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    if error:
        print(f"ERROR: {error}", file=sys.stderr)
    else:
        sys.stdout.write(out)
    return code


if __name__ == "__main__":
    disable_network()
    sys.exit(main(sys.argv[1:]))

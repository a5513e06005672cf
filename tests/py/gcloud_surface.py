"""Extracts the part of gcloud's command surface that mlgen's scripts use, from an installed
Cloud SDK, into gcloud_surface.json (read by the stand-in gcloud, gcloud_standin.py).

It loads each command through the SDK's own argument layer (calliope), exactly as `gcloud`
does before it parses a command line, and records what a command line is checked against:
the command path, every flag (name, arity, type, static choices, required, hidden, whether
it may repeat), the keys a KEY=VALUE flag accepts, positionals, and mutually exclusive or
required argument groups. Nothing is sent anywhere: loading a command reads local modules.

Regenerate after upgrading the SDK, or when the scripts start using another command (add
it to COMMANDS):

    python3 tests/py/gcloud_surface.py                 # writes tests/py/gcloud_surface.json
    python3 tests/py/gcloud_surface.py --check         # exits 1 if the committed file differs
    python3 tests/py/gcloud_surface.py --sdk /path/to/google-cloud-sdk

The script re-executes itself with the SDK's bundled Python when it has one.
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "gcloud_surface.json"

# Every command the generated deploy.sh, teardown.sh and ci-setup.sh may run: the GA track, and the beta
# track's `run deploy` (only its `--add-volume` takes gcsfuse mount options).
COMMANDS = [
    "artifacts docker images describe",
    "artifacts repositories add-iam-policy-binding",
    "artifacts repositories create",
    "artifacts repositories delete",
    "artifacts repositories describe",
    "artifacts repositories get-iam-policy",
    "artifacts repositories remove-iam-policy-binding",
    "beta quotas info describe",
    "beta run deploy",
    "builds submit",
    "builds triggers create github",
    "builds triggers delete",
    "builds triggers describe",
    "builds triggers update github",
    "iam service-accounts add-iam-policy-binding",
    "iam service-accounts create",
    "iam service-accounts delete",
    "iam service-accounts describe",
    "iam service-accounts get-iam-policy",
    "iam service-accounts remove-iam-policy-binding",
    "iam workload-identity-pools create",
    "iam workload-identity-pools delete",
    "iam workload-identity-pools describe",
    "iam workload-identity-pools providers create-oidc",
    "iam workload-identity-pools providers describe",
    "iam workload-identity-pools providers update-oidc",
    "iam workload-identity-pools undelete",
    "projects add-iam-policy-binding",
    "projects describe",
    "projects remove-iam-policy-binding",
    "run deploy",
    "run services add-iam-policy-binding",
    "run services delete",
    "run services describe",
    "run services get-iam-policy",
    "run services remove-iam-policy-binding",
    "run services update-traffic",
    "secrets add-iam-policy-binding",
    "secrets describe",
    "secrets get-iam-policy",
    "secrets remove-iam-policy-binding",
    "services enable",
    "storage buckets add-iam-policy-binding",
    "storage buckets create",
    "storage buckets describe",
    "storage buckets get-iam-policy",
    "storage buckets remove-iam-policy-binding",
    "storage buckets update",
    "storage managed-folders add-iam-policy-binding",
    "storage managed-folders describe",
    "storage managed-folders get-iam-policy",
    "storage managed-folders remove-iam-policy-binding",
    "storage rm",
]

# The commands of monitoring.sh ([monitoring]). Alert policies have only an alpha command and
# notification channels a beta one; the track is the path's first word.
MONITORING_COMMANDS = [
    "alpha monitoring policies create",
    "alpha monitoring policies list",
    "alpha monitoring policies update",
    "beta monitoring channels create",
    "beta monitoring channels list",
    "beta monitoring channels update",
    "monitoring dashboards create",
    "monitoring dashboards list",
    "monitoring dashboards update",
    "monitoring uptime create",
    "monitoring uptime list-configs",
    "monitoring uptime update",
]


def default_sdk():
    try:
        out = subprocess.run(
            ["gcloud", "info", "--format=value(installation.sdk_root)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return "/usr/lib/google-cloud-sdk"


def reexec_with_sdk_python(sdk):
    """calliope needs the SDK's third-party modules and a Python it supports."""
    bundled = Path(sdk) / "platform" / "bundledpythonunix" / "bin" / "python3"
    if bundled.exists() and Path(sys.executable).resolve() != bundled.resolve() \
            and not os.environ.get("MLGEN_SURFACE_REEXEC"):
        env = dict(os.environ, MLGEN_SURFACE_REEXEC="1")
        os.execve(str(bundled), [str(bundled), __file__, *sys.argv[1:]], env)


def load_cli(sdk):
    lib = Path(sdk) / "lib"
    sys.path[:0] = [str(lib), str(lib / "third_party")]
    # A throwaway configuration folder: never read or write the user's gcloud config.
    config = tempfile.mkdtemp(prefix="mlgen-surface-")
    atexit.register(shutil.rmtree, config, ignore_errors=True)
    os.environ["CLOUDSDK_CONFIG"] = config
    os.environ["CLOUDSDK_CORE_DISABLE_USAGE_REPORTING"] = "true"
    from googlecloudsdk import gcloud_main  # noqa: E402

    return gcloud_main.CreateCLI([])._TopElement()


def _strings_in(fn):
    """The allowed keys of a KEY=VALUE flag whose key_type is a checking function: gcloud
    writes them as a tuple/set in the closure (probes) or as a constant (volume mounts)."""
    found = []
    for cell in getattr(fn, "__closure__", None) or ():
        v = cell.cell_contents
        if isinstance(v, (tuple, list, set, frozenset)) and v and all(isinstance(x, str) for x in v):
            found.extend(v)
    code = getattr(fn, "__code__", None)
    if code is not None and not found:
        for v in code.co_consts:
            if isinstance(v, frozenset) and v and all(isinstance(x, str) for x in v):
                found.extend(v)
    return sorted(set(found)) or None


def flag_info(arg, volumes_module, track):
    from googlecloudsdk.calliope import arg_parsers

    action = type(arg).__name__
    info = {
        "nargs": "0" if arg.nargs == 0 else str(arg.nargs or 1),
        "type": "string",
        "required": False,  # decided with the groups, see groups_of
        "hidden": bool(getattr(arg, "hidden", False) or getattr(arg, "is_hidden", False)),
        "repeatable": action in ("_AppendAction", "UpdateAction", "AppendAction"),
    }
    if arg.nargs == 0:
        info["type"] = "bool"
    elif arg.type is int or type(arg.type).__name__ in ("BoundedInt", "_BoundedType"):
        info["type"] = "int"
    elif isinstance(arg.type, arg_parsers.ArgDict):
        info["type"] = "dict"
        d = arg.type
        keys = sorted(d.spec) if d.spec else _strings_in(d.key_type) if d.key_type else None
        info["dict_keys"] = keys
        info["dict_required_keys"] = sorted(d.required_keys or [])
        info["dict_key_only"] = bool(d.allow_key_only)
    elif isinstance(arg.type, arg_parsers.ArgList):
        info["type"] = "list"
    if arg.choices:
        info["choices"] = sorted(str(c) for c in arg.choices)
    if arg.option_strings[0] == "--add-volume" and volumes_module is not None:
        # Volume types carry their own keys, per release track.
        types = {}
        for name, cls in sorted(volumes_module._supported_volume_types.items()):
            if track in cls.release_tracks():
                types[name] = {
                    "required": sorted(cls.required_fields(track)),
                    "optional": sorted(cls.optional_fields(track)),
                }
        info["volume_types"] = types
    return info


def groups_of(ai):
    """Argument groups that constrain a command line, and which flags are required.

    A group is kept when it is mutually exclusive, required, or holds required members
    (those are required only once any member of the group is given, as calliope does).
    A flag is required on its own only if every group above it is required too.
    """

    def names(node):
        if hasattr(node, "arguments"):
            return [n for child in node.arguments for n in names(child)]
        long = [s for s in node.option_strings if s.startswith("--")]
        if node.option_strings:
            return long[:1]
        return [node.dest.replace("_", "-")]

    groups, required = [], set()

    def walk(node, active):
        for child in node.arguments:
            if not hasattr(child, "arguments"):
                if active and child.is_required:
                    required.update(names(child))
                continue
            needed = [names(m)[0] for m in child.arguments
                      if not hasattr(m, "arguments") and m.is_required and names(m)]
            if child.is_mutex or child.is_required or needed:
                groups.append({
                    "mutex": bool(child.is_mutex),
                    "required": bool(child.is_required),
                    "members": [names(m) for m in child.arguments if names(m)],
                    "required_members": needed,
                })
            walk(child, active and child.is_required)

    walk(ai, True)
    return groups, required


def extract(top):
    from googlecloudsdk.calliope import base
    from googlecloudsdk.command_lib.run import volumes

    surface = {"commands": {}, "subcommands": {}}
    for path in COMMANDS + MONITORING_COMMANDS:
        words = path.split()
        track = base.ReleaseTrack.BETA if words[0] == "beta" else base.ReleaseTrack.GA
        for i in range(len(words)):
            parent = top if i == 0 else top.LoadSubElementByPath(words[:i])
            key = " ".join(words[:i])
            surface["subcommands"][key] = sorted(n.replace("_", "-") for n in parent.AllSubElements())
        cmd = top.LoadSubElementByPath(words)
        groups, required = groups_of(cmd.ai)
        flags = {}
        for arg in cmd.ai.flag_args:
            for name in arg.option_strings:
                if name.startswith("--"):
                    flags[name] = flag_info(arg, volumes if "run" in words[:2] else None, track)
        # Flags every command inherits (--project, --quiet, and --region for run).
        for arg in cmd.ai.ancestor_flag_args:
            for name in arg.option_strings:
                if name.startswith("--") and not name.startswith("---"):
                    flags[name] = flag_info(arg, None, track)
        positionals = []
        for arg in cmd.ai.positional_args:
            nargs = "1" if arg.nargs is None else str(arg.nargs)
            positionals.append({
                "name": arg.dest.replace("_", "-"),
                "nargs": nargs,
                "required": arg.nargs not in (0, "?", "*", "..."),
            })
        for name, info in flags.items():
            info["required"] = name in required
        surface["commands"][path] = {
            "flags": dict(sorted(flags.items())),
            "positionals": positionals,
            "groups": groups,
        }
    return surface


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sdk", default=os.environ.get("MLGEN_GCLOUD_SDK") or None)
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args()
    sdk = args.sdk or default_sdk()
    reexec_with_sdk_python(sdk)
    top = load_cli(sdk)
    surface = {
        "generated_by": "python3 tests/py/gcloud_surface.py",
        "sdk_version": (Path(sdk) / "VERSION").read_text().strip(),
        "release_track": "GA, and BETA for the commands under `beta`",
        **extract(top),
    }
    text = json.dumps(surface, indent=1, sort_keys=False) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} differs from the surface of the SDK at {sdk}; regenerate it", file=sys.stderr)
            sys.exit(1)
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(surface['commands'])} commands, SDK {surface['sdk_version']})")


if __name__ == "__main__":
    main()

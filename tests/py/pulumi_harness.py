"""Runs a generated Pulumi program offline, under the Pulumi SDK's mocks, and records it.

`run_program(main_py)` executes the program with the real `pulumi` and `pulumi_gcp` (pinned in
tests/requirements/pulumi.txt) in a fresh interpreter, and returns what it registered:

    {"resources": [{"type", "name", "inputs", "depends_on", "protect", "retain_on_delete"}],
     "exports": {...}, "calls": [{"token", "args"}]}

`inputs` are the values the engine would receive (wire names, camelCase), with outputs of
other resources resolved through the mocks. `depends_on` holds every dependency the engine
orders by: the explicit ones and those of the Outputs that fed an input. The run fails (ProgramError) on:

- any exception, raised by the program or while registering its resources;
- any stringified Output (an f-string, `str()` or `.format` on an Output): the SDK only
  logs a warning and sends its text as the value, so the text is searched for everywhere;
- any warning the SDK logs (deprecated arguments and the like);
- a plain-dict input whose keys are not the ones pulumi_gcp's `*ArgsDict` types declare, at
  any depth (the SDK sends misspelt keys through silently), a missing required key, or a
  scalar of the wrong type. The checks read the resource class's own type hints.

Provider functions (the lookups a program makes of what it does not create) answer from
their arguments, plus the project number as `PROJECT_NUMBER`; `run_program(main_py,
missing=TOKENS)` makes the functions named by TOKENS fail as the provider does for a
resource that does not exist.

Run as a script (`python pulumi_harness.py MAIN_PY OUT_JSON [MISSING_TOKEN...]`), it writes
{"resources", "exports", "calls", "problems"} to OUT_JSON; that is what run_program does.
"""

import collections.abc
import hashlib
import json
import logging
import os
import runpy
import subprocess
import sys
import tempfile
import tomllib
import traceback
import typing
from pathlib import Path

STRINGIFIED_OUTPUT = "Calling __str__ on an Output"


class ProgramError(AssertionError):
    """The program did not run cleanly; `problems` lists why."""

    def __init__(self, problems, recorded=None):
        self.problems = problems
        self.recorded = recorded
        super().__init__("Pulumi program failed under mocks:\n- " + "\n- ".join(problems))


# Carries the stack's config values into the program's interpreter.
CONFIG_VARIABLE = "MLGEN_PULUMI_HARNESS_CONFIG"


def run_program(main_py, timeout=300, missing=(), config=None):
    """Runs MAIN_PY under mocks in a fresh interpreter, with the stack's `config` values;
    returns the record or raises ProgramError."""
    main_py = Path(main_py).resolve()
    fd, out = tempfile.mkstemp(prefix="mlgen-pulumi-", suffix=".json")
    os.close(fd)
    out = Path(out)
    try:
        return _run_in_subprocess(main_py, out, timeout, missing, config or {})
    finally:
        out.unlink(missing_ok=True)


def _run_in_subprocess(main_py, out, timeout, missing, config):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env[CONFIG_VARIABLE] = json.dumps(config)
    proc = subprocess.run(
        [sys.executable, __file__, str(main_py), str(out), *missing],
        check=False,
        capture_output=True,
        text=True,
        cwd=main_py.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    if not out.read_text():
        raise ProgramError([f"harness exited {proc.returncode} without a record:\n{proc.stderr}"])
    record = json.loads(out.read_text())
    if record["problems"]:
        raise ProgramError(record["problems"], record)
    if proc.returncode != 0:
        raise ProgramError([f"harness exited {proc.returncode}:\n{proc.stderr}"], record)
    return {"resources": record["resources"], "exports": record["exports"], "calls": record["calls"]}


# --- type checking of plain-dict inputs against pulumi_gcp's declared types ---------------


def _flatten(hint):
    """The alternatives a hint allows, with Optional/Union/Input unwrapped and the
    Output/Awaitable branches (values we cannot inspect) dropped."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        out = []
        for arg in typing.get_args(hint):
            out.extend(_flatten(arg))
        return out
    if hint is type(None):
        return []
    if origin is collections.abc.Awaitable:
        return []
    import pulumi

    if hint is pulumi.Output or origin is pulumi.Output:
        return []
    return [hint]


def _hints(obj):
    """Type hints of a function or TypedDict, resolving the SDK's own forward references
    (`pulumi.Input[X]` keeps the unevaluated text 'Output[T]'; whatever an Output holds
    is not checked)."""
    import pulumi

    module = sys.modules[obj.__module__]
    return typing.get_type_hints(obj, globalns={"Output": pulumi.Output, "T": typing.Any, **vars(module)})


def _is_input_type(cls):
    import pulumi._types

    return isinstance(cls, type) and pulumi._types.is_input_type(cls)


def _check(value, hint, path, problems):
    import pulumi

    if value is None or isinstance(value, (pulumi.Output, pulumi.Resource)):
        return
    if hasattr(value, "__await__"):
        return
    alternatives = _flatten(hint)
    if any(a is typing.Any for a in alternatives):
        return
    if isinstance(value, dict):
        typed = [a for a in alternatives if typing.is_typeddict(a)]
        if not typed:
            # Hints on typed Args classes name only the class; its dict form is <Name>Dict.
            typed = [
                d
                for a in alternatives
                if _is_input_type(a)
                for d in [getattr(sys.modules[a.__module__], a.__name__ + "Dict", None)]
                if d is not None and typing.is_typeddict(d)
            ]
        if typed:
            td = typed[0]
            fields = _hints(td)
            for key in value:
                if key not in fields:
                    problems.append(
                        f"{path}: unknown key {key!r} ({td.__name__} has {', '.join(sorted(fields))})"
                    )
            for key in sorted(td.__required_keys__ - value.keys()):
                problems.append(f"{path}: missing required key {key!r} ({td.__name__})")
            for key, v in value.items():
                if key in fields:
                    _check(v, fields[key], f"{path}.{key}", problems)
            return
        maps = [a for a in alternatives if typing.get_origin(a) in (collections.abc.Mapping, dict)]
        if maps:
            _, value_type = typing.get_args(maps[0])
            for key, v in value.items():
                if not isinstance(key, str):
                    problems.append(f"{path}: key {key!r} is not a string")
                _check(v, value_type, f"{path}[{key!r}]", problems)
            return
        problems.append(f"{path}: a dict where {hint} is expected")
        return
    if isinstance(value, (list, tuple)):
        seqs = [a for a in alternatives if typing.get_origin(a) in (collections.abc.Sequence, list)]
        if not seqs:
            problems.append(f"{path}: a list where {hint} is expected")
            return
        (item_type,) = typing.get_args(seqs[0])
        for i, v in enumerate(value):
            _check(v, item_type, f"{path}[{i}]", problems)
        return
    if _is_input_type(type(value)):
        if not any(a is type(value) for a in alternatives):
            problems.append(f"{path}: {type(value).__name__} where {hint} is expected")
            return
        fields = _hints(type(value).__init__)
        for key, field_hint in fields.items():
            if key != "return":
                _check(pulumi.get(value, key), field_hint, f"{path}.{key}", problems)
        return
    scalars = {a for a in alternatives if a in (str, int, float, bool)}
    if isinstance(value, bool):
        ok = bool in scalars
    elif isinstance(value, int):
        ok = int in scalars or float in scalars
    elif isinstance(value, float):
        ok = float in scalars
    elif isinstance(value, str):
        ok = str in scalars
    else:
        ok = True  # assets, archives, enums: not produced by mlgen, not checked here
    if not ok:
        problems.append(f"{path}: {type(value).__name__} {value!r} where {hint} is expected")


def _check_resource(resource, name, props, problems):
    """Checks a resource's constructor arguments against its class's `_internal_init` hints."""
    cls = type(resource)
    init = getattr(cls, "_internal_init", None)
    if init is None or props is None:
        return
    hints = _hints(init)
    items = vars(props).items() if not isinstance(props, dict) else props.items()
    for key, value in items:
        if key in hints:
            _check(value, hints[key], f"{cls.__module__.split('.', 1)[-1]}.{cls.__name__}({name!r}).{key}", problems)


# --- the mocked run ---------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _strings(value, path=""):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _computed(typ, name, inputs):
    """Outputs the provider would compute, derived from the inputs so they are predictable."""
    state = dict(inputs)
    if typ == "gcp:serviceaccount/account:Account":
        project = inputs.get("project", "mock-project")
        email = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
        state.update(
            email=email,
            member=f"serviceAccount:{email}",
            name=f"projects/{project}/serviceAccounts/{email}",
            uniqueId="100000000000000000001",
        )
    elif typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
        pool = inputs.get("workloadIdentityPoolId", name)
        state.update(name=f"projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{pool}")
    elif typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
        pool = inputs.get("workloadIdentityPoolId", "mock-pool")
        provider = inputs.get("workloadIdentityPoolProviderId", name)
        state.update(name=f"projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{pool}/providers/{provider}")
    elif typ == "gcp:artifactregistry/repository:Repository":
        state.update(name=inputs.get("repositoryId", name))
    elif typ == "gcp:cloudrunv2/service:Service":
        uri = f"https://{inputs.get('name', name)}-mock.{inputs.get('location', 'mock-region')}.run.app"
        state.update(name=inputs.get("name", name), uri=uri, urls=[uri], uid="mock-uid")
    return state


DOCKER_IMAGE = "gcp:artifactregistry/getDockerImage:getDockerImage"


def _docker_image(inputs):
    """What getDockerImage returns for an image pushed under `imageName` (NAME:TAG): its
    digest is derived from the name and tag, so a new tag reads as a new image."""
    name, _, tag = inputs["imageName"].partition(":")
    digest = "sha256:" + hashlib.sha256(inputs["imageName"].encode()).hexdigest()
    path = f"{inputs['location']}-docker.pkg.dev/{inputs['project']}/{inputs['repositoryId']}/{name}"
    return {**inputs, "selfLink": f"{path}@{digest}", "tags": [tag], "name": f"{path}@{digest}"}


def _lookup(token, args):
    """What a provider function returns for something that exists."""
    if token == DOCKER_IMAGE:
        return _docker_image(args)
    result = dict(args)
    if token == "gcp:organizations/getProject:getProject":
        result.update(number="PROJECT_NUMBER", name=args.get("projectId", "mock-project"))
    if token == "gcp:cloudquota/getSQuotaInfo:getSQuotaInfo":  # ten GPUs wherever Cloud Run offers them
        platform = tomllib.loads((Path(__file__).resolve().parents[2] / "data" / "platform.toml").read_text())
        regions = sorted({r for gpu in platform["gpu"] for r in gpu["regions"]})
        result.update(dimensionsInfos=[{"applicableLocations": regions, "details": [{"value": "10"}],
                                        "dimensions": {}}])
    if token == "gcp:artifactregistry/getRepository:getRepository":
        result.update(name=args["repositoryId"])  # the resource's `name`, the repository's id
    return result


def _run(main_py, missing=()):
    import pulumi
    import pulumi.runtime
    import yaml
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_root_resource

    problems = []
    resources = []
    calls = []
    names = {}  # urn -> "type::name"
    dependencies = {}  # (type, name) -> [urn]
    options = {}  # (type, name) -> resource options the engine acts on at destroy

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            record = {"type": args.typ, "name": args.name, "inputs": _jsonable(args.inputs)}
            resources.append(record)
            state = _computed(args.typ, args.name, args.inputs)
            # The provider's id of a service account is its name; other ids are opaque.
            return state["name"] if args.typ == "gcp:serviceaccount/account:Account" else f"{args.name}-id", state

        def call(self, args):
            inputs = _jsonable(args.args)
            calls.append({"token": args.token, "args": inputs})
            if args.token in missing:
                # A failed invoke, as the engine reports a provider error to the program.
                return {}, [("", "googleapi: Error 404: not found")]
            return _lookup(args.token, inputs)

    class Monitor(MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            names[response.urn] = f"{request.type}::{request.name}"
            dependencies[(request.type, request.name)] = list(request.dependencies)
            options[(request.type, request.name)] = {
                "protect": bool(request.protect), "retain_on_delete": bool(request.retainOnDelete)}
            return response

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                problems.append(f"SDK {record.levelname.lower()}: {record.getMessage()}")

    logger = logging.getLogger("mlgen.pulumi.mocks")
    logger.addHandler(Collect())
    logger.propagate = False

    project_file = main_py.parent / "Pulumi.yaml"
    project = yaml.safe_load(project_file.read_text())["name"] if project_file.exists() else "project"
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack="mock", preview=False, logger=logger, monitor=Monitor(mocks))
    # `pulumi config set KEY VALUE` for this stack.
    config = json.loads(os.environ.get(CONFIG_VARIABLE, "{}"))
    pulumi.runtime.set_all_config({f"{project}:{k}": str(v) for k, v in config.items()})

    original_init = pulumi.CustomResource.__init__

    def checked_init(self, t, name, props=None, opts=None, *args, **kwargs):
        try:
            _check_resource(self, name, props, problems)
        except Exception:  # noqa: BLE001 a checker bug must fail the run, not hide
            crash = "type check crashed:\n" + traceback.format_exc()
            if crash not in problems:
                problems.append(crash)
        return original_init(self, t, name, props, opts, *args, **kwargs)

    pulumi.CustomResource.__init__ = checked_init

    exports = {}

    @pulumi.runtime.test
    def program():
        sys.path.insert(0, str(main_py.parent))
        runpy.run_path(str(main_py), run_name="__main__")
        outputs = get_root_resource().outputs
        if not outputs:
            return None
        return pulumi.Output.all(**outputs).apply(exports.update)

    try:
        program()
    except Exception:  # noqa: BLE001 every failure is reported, none is fatal to the harness
        problems.append("exception:\n" + traceback.format_exc())

    for r in resources:
        r["depends_on"] = sorted(names.get(u, u) for u in dependencies.get((r["type"], r["name"]), []))
        r.update(options.get((r["type"], r["name"]), {"protect": False, "retain_on_delete": False}))
    exports = _jsonable(exports)
    for where, value in [("resources", resources), ("exports", exports)]:
        for path, text in _strings(value, where):
            if STRINGIFIED_OUTPUT in text:
                problems.append(f"stringified Output at {path}: {text.splitlines()[0]!r}")
    return {"resources": resources, "exports": exports, "calls": calls, "problems": problems}


def main(argv):
    main_py, out = Path(argv[1]).resolve(), Path(argv[2])
    try:
        record = _run(main_py, set(argv[3:]))
    except Exception:  # noqa: BLE001
        record = {"resources": [], "exports": {}, "calls": [],
                  "problems": ["harness crashed:\n" + traceback.format_exc()]}
    out.write_text(json.dumps(record, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

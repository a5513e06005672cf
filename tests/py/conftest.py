"""Shared fixtures for the validators of generated files.

Layout conventions:
- examples/<name>/mlgen.toml are the specs; snapshots/<name>/ hold their generated trees
  (kept current by the Rust snapshot test), so validators read snapshots directly.
- `mlgen model SPEC` prints the resolved deployment as JSON; parity.py turns it into the
  canonical view that every target's extractor must reproduce.
- A server (the generated app, uvicorn, gunicorn, bentoml) that the tests started and left
  running fails the run at its end, and is killed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlgen.toml") if "[environments." not in p.read_text())
# Examples with [environments]: one output folder per environment (test_cplane_envs.py).
ENV_EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlgen.toml") if "[environments." in p.read_text())
MLGEN = os.environ.get("MLGEN_BIN", str(ROOT / "target" / "debug" / "mlgen"))

# Marks every process this run starts (they inherit it; the app's own environment adds it):
# what tells them from other runs' at the end.
RUN_ID = f"{os.getpid()}-{time.time_ns()}"
RUN_ENV = {"MLGEN_TEST_RUN": RUN_ID}
os.environ.update(RUN_ENV)
SERVER = re.compile(r"app/main\.py|uvicorn|gunicorn|bentoml")


def mlgen(*args, check=True, cwd=None, env=None):
    """Runs the mlgen binary and returns the CompletedProcess."""
    proc = subprocess.run(
        [MLGEN, "--color", "never", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mlgen {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def model_of(spec_path):
    """The resolved deployment of a spec, as mlgen computes it."""
    return json.loads(mlgen("model", spec_path).stdout)


def snapshot_dir(example):
    return ROOT / "snapshots" / example


def render_spec_text(tmp_path, text, name="svc"):
    """Writes spec text to tmp_path/name/mlgen.toml, applies it, returns (spec, out_dir)."""
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    spec = d / "mlgen.toml"
    spec.write_text(text)
    put_model(spec)
    mlgen("apply", spec)
    return spec, d / "deploy"


def put_model(spec):
    """Puts a stand-in model file where the spec names a local one that is not there yet:
    mlgen refuses a spec whose model file is missing."""
    source = tomllib.loads(spec.read_text())["model"].get("source", "")
    model = spec.parent / source
    if source and not source.startswith("gs://") and not model.exists():
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"model")


def copy_example(tmp_path, example):
    """Copies an example folder to tmp_path and applies it there; returns (spec, out_dir)."""
    d = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, d, ignore=shutil.ignore_patterns("deploy"))
    spec = d / "mlgen.toml"
    put_model(spec)
    mlgen("apply", spec)
    return spec, d / "deploy"


def copy_with_include_folder(tmp_path):
    """The custom-handler example with a folder among its includes (nested files, and a
    file beside the folder that is not included), applied; returns (spec, out_dir)."""
    d = tmp_path / "review-sentiment"
    shutil.copytree(ROOT / "examples" / "review-sentiment", d, ignore=shutil.ignore_patterns("deploy"))
    for path in ("assets/vocab.txt", "assets/sub/weights.bin", "assets.txt"):
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_text(path)
    spec = d / "mlgen.toml"
    spec.write_text(spec.read_text().replace('include = ["labels.json"]', 'include = ["labels.json", "assets/"]'))
    mlgen("apply", spec)
    return spec, d / "deploy"


def image_files(context, inputs):
    """The build's inputs as files: a folder (ending in `/`) as every file under it, in
    path order, the way every target hashes them."""
    out = []
    for f in inputs:
        if f.endswith("/"):
            out += sorted(p.relative_to(context).as_posix() for p in (context / f).rglob("*") if p.is_file())
        else:
            out.append(f)
    return out


@pytest.fixture(params=EXAMPLES)
def example(request):
    """Each example's name."""
    return request.param


# ---------------------------------------------------------------------------------------
# No server left running: a leaked worker holds a port and hundreds of MB for good.


def process_parents():
    """Each running process's parent pid, by pid (from /proc; zombies left out)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):  # gone meanwhile
            continue
        if state != "Z":
            parents[int(entry.name)] = int(ppid)
    return parents


def servers_of_this_run():
    """{pid: command line} of the servers that this run started and that still run."""
    mark = f"MLGEN_TEST_RUN={RUN_ID}".encode()
    found = {}
    for pid in process_parents():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        command = cmdline.decode(errors="replace").strip()
        if mark in environ and SERVER.search(command):
            found[pid] = command
    return found


@pytest.fixture(scope="session", autouse=True)
def no_server_left_running():
    """At the end of the run, gives its servers 10 s to exit, then kills the rest and fails."""
    yield
    deadline = time.monotonic() + 10
    while (left := servers_of_this_run()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"the tests left these running (now killed): {left}"

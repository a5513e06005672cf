"""Shared fixtures for the validators of generated files.

Layout conventions:
- examples/<name>/mlgen.toml are the specs; snapshots/<name>/ hold their generated trees
  (kept current by the Rust snapshot test), so validators read snapshots directly.
- `mlgen model SPEC` prints the resolved deployment as JSON; parity.py turns it into the
  canonical view that every target's extractor must reproduce.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlgen.toml"))
MLGEN = os.environ.get("MLGEN_BIN", str(ROOT / "target" / "debug" / "mlgen"))


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
    mlgen("apply", spec)
    return spec, d / "deploy"


def copy_example(tmp_path, example):
    """Copies an example folder to tmp_path and applies it there; returns (spec, out_dir)."""
    d = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, d, ignore=shutil.ignore_patterns("deploy"))
    spec = d / "mlgen.toml"
    mlgen("apply", spec)
    return spec, d / "deploy"


@pytest.fixture(params=EXAMPLES)
def example(request):
    """Each example's name."""
    return request.param


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

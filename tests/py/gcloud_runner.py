"""Runs generated gcloud scripts against the checking stand-in (gcloud_standin.py)."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "gcloud_standin.py"


class Gcloud:
    """A stand-in gcloud first on PATH, with its own state and call log."""

    def __init__(self, root):
        self.root = root
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True)
        wrapper = bin_dir / "gcloud"
        wrapper.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(STANDIN))} "$@"\n'
        )
        wrapper.chmod(0o755)
        self.log = root / "calls.jsonl"
        self.state = root / "state.json"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLGEN_GCLOUD_LOG": str(self.log),
            "MLGEN_GCLOUD_STATE": str(self.state),
        }

    def run(self, script, *args):
        """Runs a script with bash from an unrelated folder, stdin closed."""
        return subprocess.run(
            ["bash", str(script), *args], env=self.env, cwd=self.root,
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )

    def call(self, *argv):
        return subprocess.run(
            ["gcloud", *argv], env=self.env, cwd=self.root,
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )

    def deploy_then_teardown(self, out):
        """Runs deploy.sh, then ci-setup.sh where there is one, then `teardown.sh --yes`
        (which shows whether deletion protection holds: gcloud keeps no such flag). Returns
        the calls of the deploy and the teardown, and those of the pipeline's setup."""
        ok(self.run(out / "gcloud" / "deploy.sh"))
        deployed = len(self.records())
        if (out / "gcloud" / "ci-setup.sh").exists():
            ok(self.run(out / "gcloud" / "ci-setup.sh"))
        set_up = len(self.records())
        self.run(out / "gcloud" / "teardown.sh", "--yes")
        records = self.records()
        return records[:deployed] + records[set_up:], records[deployed:set_up]

    def records(self):
        if not self.log.exists():
            return []
        # Not splitlines(): it also splits on U+2028, which values may hold.
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").split("\n") if line]

    def world(self):
        return json.loads(self.state.read_text())


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc

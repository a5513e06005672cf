"""checkov finds no failed check in any example's generated Terraform and Dockerfile.

Checks that do not fit Cloud Run are skipped in the generated file itself, each with a
one-line reason next to it, so a reviewer sees every exception.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT, copy_example

VENV = Path(os.environ.get("MLGEN_VENV", ROOT / ".venv"))
CHECKOV = VENV / "isolated" / "checkov" / "bin" / "checkov"
SKIP = re.compile(r"checkov:skip=(CKV2?_[A-Z0-9_]+)(:?)(.*)")


def checkov(directory, frameworks):
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", *frameworks, "--skip-download", "-o", "json", "--quiet"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300,
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}):\n{proc.stderr}"
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    # --quiet lists only failures; the summaries count the rest.
    summaries = {r["check_type"]: r["summary"] for r in reports if "check_type" in r}
    return failed, summaries


def summary(checks):
    return "\n".join(f"{c['check_id']} {c['check_name']} ({c['resource']}, {c['file_path']})" for c in checks)


@pytest.mark.parametrize("example", EXAMPLES)
def test_generated_files_pass_checkov(example, tmp_path):
    _, out = copy_example(tmp_path, example)
    failed, summaries = checkov(out, ["terraform", "dockerfile"])
    assert not failed, "checkov failed checks:\n" + summary(failed)
    assert sorted(summaries) == ["dockerfile", "terraform"], summaries
    for kind, s in summaries.items():
        assert s["parsing_errors"] == 0 and s["resource_count"] > 0, (kind, s)
    # The container gets the full set of Dockerfile checks.
    assert summaries["dockerfile"]["passed"] > 10, summaries


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_skip_gives_a_reason(example, tmp_path):
    _, out = copy_example(tmp_path, example)
    for f in out.rglob("*"):
        if f.is_file():
            for m in SKIP.finditer(f.read_text()):
                assert m.group(2) == ":" and len(m.group(3).strip()) > 10, f"{f}: skip without a reason: {m.group(0)}"


def test_checkov_catches_a_public_invoker(tmp_path):
    # checkov's public-service rule (CKV_GCP_102) knows the v1 IAM resource; the point
    # here is only that this scan can fail.
    bad = tmp_path / "tf"
    bad.mkdir()
    (bad / "main.tf").write_text(
        'resource "google_cloud_run_service_iam_member" "anyone" {\n'
        '  location = "europe-west1"\n  name = "svc"\n  role = "roles/run.invoker"\n  member = "allUsers"\n}\n'
    )
    failed, _ = checkov(bad, ["terraform"])
    assert failed, "checkov let an allUsers invoker through"


def test_checkov_catches_a_root_container(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12.11-slim-bookworm\nCMD [\"python\"]\n")
    failed, _ = checkov(tmp_path, ["dockerfile"])
    assert any(c["check_id"] == "CKV_DOCKER_3" for c in failed), summary(failed)

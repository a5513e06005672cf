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
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300, check=False,
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


def drop_line(path, pattern):
    """Removes the one line of path that matches pattern: a defect put into a generated file."""
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not re.search(pattern, line)]
    assert len(kept) == len(lines) - 1, f"{path}: expected one line matching {pattern!r}"
    path.write_text("".join(kept))


# checkov's only check that reads a Terraform resource mlgen emits is CKV_GCP_84 (CMEK on
# the Artifact Registry repository); its Cloud Run checks know only the v1 resources. These
# two cases show the scan reads the generated files and fails on a defect in them.
def test_checkov_flags_the_generated_repository_without_its_skip(tmp_path):
    _, out = copy_example(tmp_path, "iris-sklearn")
    drop_line(out / "terraform" / "main.tf", r"checkov:skip=CKV_GCP_84:")
    failed, _ = checkov(out / "terraform", ["terraform"])
    flagged = [(c["check_id"], c["resource"]) for c in failed]
    assert flagged == [("CKV_GCP_84", "google_artifact_registry_repository.images")], summary(failed)


def test_checkov_flags_the_generated_image_running_as_root(tmp_path):
    _, out = copy_example(tmp_path, "iris-sklearn")
    drop_line(out / "Dockerfile", r"^USER ")
    failed, _ = checkov(out, ["dockerfile"])
    assert [c["check_id"] for c in failed] == ["CKV_DOCKER_3"], summary(failed)

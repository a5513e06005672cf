"""The recorded gcloud command surface (gcloud_surface.json), which the stand-in gcloud checks
every call against, is what the installed Cloud SDK says: `gcloud_surface.py --check` reads
the SDK's own command definitions, offline."""

import subprocess
import sys

from conftest import ROOT

SURFACE = ROOT / "tests" / "py" / "gcloud_surface.py"


def surface_check(script=SURFACE):
    return subprocess.run(
        [sys.executable, str(script), "--check"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
    )


def test_recorded_gcloud_surface_matches_the_installed_sdk():
    proc = surface_check()
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_surface_check_fails_on_another_surface(tmp_path):
    # The script compares with the JSON beside it: a copy beside an edited record.
    recorded = SURFACE.with_suffix(".json").read_text()
    edited = recorded.replace('"--memory"', '"--memory-limit"', 1)
    assert edited != recorded
    (tmp_path / "gcloud_surface.json").write_text(edited)
    script = tmp_path / SURFACE.name
    script.write_text(SURFACE.read_text())
    proc = surface_check(script)
    assert proc.returncode == 1 and "differs" in proc.stderr, proc.stdout + proc.stderr

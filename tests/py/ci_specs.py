"""The pipelines the CI tests share across the three targets: the churn-public example,
whose `[ci]` deploys through GitHub, and the same spec deploying through Cloud Build."""

import shutil

from conftest import ROOT, mlgen

EXAMPLE = "churn-public"


def with_provider(tmp_path, provider):
    """Copies the example to tmp_path with `[ci] provider` set and applies it; returns
    (spec, out_dir)."""
    d = tmp_path / f"{EXAMPLE}-{provider}"
    shutil.copytree(ROOT / "examples" / EXAMPLE, d, ignore=shutil.ignore_patterns("deploy"))
    spec = d / "mlgen.toml"
    text = spec.read_text()
    assert 'provider = "github"' in text
    spec.write_text(text.replace('provider = "github"', f'provider = "{provider}"'))
    mlgen("apply", spec)
    return spec, d / "deploy"

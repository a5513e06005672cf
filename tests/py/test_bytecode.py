"""The image's bytecode: the Dockerfile compiles site-packages and the app at build time, so
that the service's user, who cannot write there, never recompiles a module at a cold start.
"""

import os
import re
import shutil
import subprocess

from conftest import copy_example
from test_app_e2e import app_venv

COMPILE = re.compile(r"^RUN python (-m compileall .*) /opt/venv /app$", re.MULTILINE)


def test_the_app_starts_from_the_bytecode_the_image_compiled(tmp_path):
    _, out_dir = copy_example(tmp_path, "iris-sklearn")
    found = COMPILE.search((out_dir / "Dockerfile").read_text())
    assert found, "the Dockerfile compiles no bytecode into /opt/venv and /app"
    python = app_venv(out_dir / "app" / "requirements.txt") / "bin" / "python"
    app = tmp_path / "image-app"
    shutil.copytree(out_dir / "app", app)
    subprocess.run([python, *found.group(1).split(), app], check=True)
    # A later COPY or a rebuilt layer gives the sources other timestamps than the compile saw.
    for source in app.rglob("*.py"):
        os.utime(source, (2_000_000_000, 2_000_000_000))

    done = subprocess.run(
        [python, "-v", "-c", "import server"],
        check=False,
        cwd=app,
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # `python -v` names what each module's code came from: its .pyc, or its source compiled.
    loaded = [
        line.removeprefix("# code object from ").strip("'")
        for line in done.stderr.splitlines()
        if line.startswith("# code object from ") and str(app) in line
    ]
    assert any(p.endswith(".pyc") for p in loaded), done.stderr[-2000:]
    assert [p for p in loaded if p.endswith(".py")] == []

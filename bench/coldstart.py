"""Cold start as Cloud Run starts the image: a user that is not root, site-packages and the
app read-only to it, and nothing cached by an earlier start.

The generated app and the bare import + load + predict of its runtime start from the same
copies of the venv and the app, first without any bytecode (the image as it was), then after
`compileall --invalidation-mode unchecked-hash`, as the Dockerfile now runs it. As root, each
start drops to uid 65534 keeping one capability, reading any file (the interpreter may sit
under a home folder only root can enter): it can read site-packages but never write there.
"""

import os
import shutil
import subprocess

AS_NOBODY = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all,+dac_read_search",
    "--ambient-caps=-all,+dac_read_search",
]
NO_BYTECODE = shutil.ignore_patterns("__pycache__")


def cloud_run_starts(work, apps, others, repeats, serve_once, bare_load):
    """`apps`: {name: (venv, app dir, model path, bare name, bare code)}; `others`: {name:
    callable} measured as they are, with the bytecode rounds. `serve_once(name, argv, env)`
    and `bare_load(argv, code, 1, env)` time one start each. Returns {"no-bytecode": ...,
    "bytecode": ...}, each {name: {"first_prediction": [s, ...], ...}}."""
    prefix = AS_NOBODY if os.geteuid() == 0 else []
    copies = {}
    for name, (venv, app_dir, *_) in apps.items():
        folder = work / "cold" / name
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(venv, folder / "venv", symlinks=True, ignore=NO_BYTECODE)
        shutil.copytree(app_dir, folder / "app", ignore=NO_BYTECODE)
        copies[name] = folder
    # Python never writes bytecode then, whoever runs it, as in the image.
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    results = {}
    for condition in ("no-bytecode", "bytecode"):
        starts = {}
        for name, (_, _, model, bare, code) in apps.items():
            folder = copies[name]
            python = folder / "venv" / "bin" / "python"
            if condition == "bytecode":
                compile_like_the_image(python, folder)
            argv = [*prefix, python, folder / "app" / "main.py"]
            server_env = {
                **env,
                "PORT": "{port}",
                "MLGEN_HOST": "127.0.0.1",
                "MLGEN_MODEL_PATH": model,
            }
            starts[name] = lambda n=name, a=argv, e=server_env: serve_once(
                f"{n}-cold", a, e
            )
            starts[bare] = lambda p=python, c=code: bare_load([*prefix, p], c, 1, env)
        if condition == "bytecode":
            starts.update(others)
        results[condition] = in_rounds(starts, repeats)
    return results


def compile_like_the_image(python, folder):
    subprocess.run(
        [
            str(python),
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(folder / "venv"),
            str(folder / "app"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def in_rounds(starts, repeats):
    """Round by round, each start once: a machine that slows down for a while slows every
    server's start alike instead of the few measured then (the bare starts moved from 0.11 to
    0.17 s between runs measured one after another)."""
    times = {name: {} for name in starts}
    for _ in range(repeats):
        for name, measure in starts.items():
            for key, values in measure().items():
                times[name].setdefault(key, []).extend(values)
    return times

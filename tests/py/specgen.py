"""Random valid specs for property tests, with hostile free text.

`specs()` is a hypothesis strategy of spec dicts that mlgen must accept; free-text fields
(description, env values, display name) draw from an alphabet chosen to break out of
strings in Python, HCL, shell, YAML and gcloud's list syntax.

The property tests draw from SEED: `MLGEN_SEED` when set (scripts/test sets it anew each
run and prints it), else a fresh one. A failure names its seed, and `MLGEN_SEED=N` repeats
the same specs.
"""

import os
import random
import string

import tomli_w
from hypothesis import strategies as st

# Pieces that end strings or start interpolation in at least one target language.
HOSTILE = [
    '"', "'", "\\", "$", "${", "%{", "`", "$(", ")", "\n", "\t", ",", "=", "^", "#", "{{", "}}",
    "{%", "%}", "{#", "é", "日本", "\u2028", " ", ";", "&", "|", "*", "~", "\\n", '\\"', "'''",
    '"""', "@", ":", "!", "a", "Z", "0",
]

SEED = int(os.environ.get("MLGEN_SEED") or random.SystemRandom().getrandbits(32))
# Noted in each property test, so that hypothesis prints it with a failing example.
REPEAT = f"these specs come from MLGEN_SEED={SEED}; `MLGEN_SEED={SEED} scripts/test` repeats them"

L4_REGIONS = ["us-central1", "us-east4", "europe-west1", "europe-west4", "asia-southeast1"]
REGIONS = L4_REGIONS + ["europe-west2", "us-west1", "asia-northeast1", "australia-southeast1"]

hostile_text = st.lists(st.sampled_from(HOSTILE), min_size=0, max_size=16).map("".join)
one_line = hostile_text.map(lambda s: s.replace("\n", " ").replace("\u2028", " "))


def dns(min_len, max_len):
    """Lowercase letter first, then [a-z0-9-], no trailing hyphen."""
    return st.from_regex(rf"[a-z][a-z0-9-]{{{min_len - 2},{max_len - 2}}}[a-z0-9]", fullmatch=True)


env_name = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: n not in {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
    and not n.startswith(("CLOUD_RUN_", "X_GOOGLE_", "MLGEN_"))
    # Wider than mlgen's credential-name rule, so that no drawn name is refused as one.
    and not any(word in n for word in ("TOKEN", "KEY", "PASS", "PWD", "SECRET", "CREDENTIAL", "DSN"))
)
email = st.builds(
    lambda user, dom: f"{user}@{dom}.example",
    st.from_regex(r"[a-z][a-z0-9.]{0,8}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{1,8}[a-z0-9]", fullmatch=True),
)
member = st.one_of(
    email.map(lambda e: f"user:{e}"),
    email.map(lambda e: f"group:{e}"),
    st.from_regex(r"[a-z][a-z0-9-]{4,10}[a-z0-9]", fullmatch=True).map(
        lambda a: f"serviceAccount:{a}@proj-x1.iam.gserviceaccount.com"),
)

# A canary's steps: increasing percents from 1 to 100, the last 100.
steps = st.lists(st.integers(1, 99), max_size=2, unique=True).map(lambda s: [*sorted(s), 100])
canary = st.one_of(st.just({}), steps.map(lambda s: {"steps": s})).map(lambda t: {"strategy": "canary", **t})
# About a third without [rollout], a third all at once (the default, or said), a third a canary.
rollouts = st.one_of(st.none(), st.sampled_from([{}, {"strategy": "all-at-once"}]), canary)

FRAMEWORK_EXT = {"sklearn": "joblib", "xgboost": "json", "lightgbm": "txt", "onnx": "onnx"}


@st.composite
def specs(draw):
    gpu = draw(st.booleans()) and draw(st.booleans())
    region = draw(st.sampled_from(L4_REGIONS if gpu else REGIONS))
    if gpu:
        cpu, memory = draw(st.sampled_from([(4, "16Gi"), (6, "24Gi"), (8, "32Gi")]))
    else:
        cpu, memory = draw(st.sampled_from([(1, "512Mi"), (1, "4Gi"), (2, "8Gi"), (4, "2Gi"), (8, "32Gi"), (0.5, "1Gi"), (0.25, "512Mi")]))
    fractional = cpu < 1
    framework = draw(st.sampled_from(sorted(FRAMEWORK_EXT)))
    ext = FRAMEWORK_EXT[framework]
    gcs = not fractional and draw(st.booleans())
    source = f"gs://{draw(dns(3, 20))}/models/m.{ext}" if gcs else f"models/m.{ext}"
    public = draw(st.booleans())
    min_i = draw(st.integers(0, 3))
    spec = {
        "service": {
            "name": draw(dns(3, 30)),
            "project": draw(dns(6, 20)),
            "region": region,
            "description": draw(hostile_text),
            "labels": draw(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
                                           st.from_regex(r"[a-z0-9_-]{0,10}", fullmatch=True), max_size=3)),
            "deletion_protection": draw(st.booleans()),
        },
        "model": {
            "framework": framework,
            "source": source,
            "features": draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True)),
        },
        "image": {"repository": draw(dns(3, 20)), "tag": draw(st.from_regex(r"[0-9]\.[0-9]{1,2}\.[0-9]", fullmatch=True))},
        "resources": {"cpu": cpu, "memory": memory, "startup_cpu_boost": draw(st.booleans())},
        "scaling": {
            "min_instances": min_i,
            "max_instances": draw(st.integers(max(1, min_i), 100)),
            "concurrency": 1 if fractional else draw(st.integers(1, 1000)),
            "timeout": f"{draw(st.integers(1, 3600))}s",
        },
        "service_account": {"account_id": draw(dns(6, 30)), "display_name": draw(one_line)},
        "access": {
            "ingress": draw(st.sampled_from(["all", "internal", "internal-and-cloud-load-balancing"])),
            "public": public,
            "invokers": [] if public else draw(st.lists(member, max_size=3, unique=True)),
            "deployers": draw(st.lists(member, max_size=2, unique=True)),
        },
        "env": draw(st.dictionaries(env_name, hostile_text, max_size=4)),
    }
    if gpu:
        spec["resources"]["gpu"] = "nvidia-l4"
        spec["resources"]["gpu_zonal_redundancy"] = draw(st.booleans())
    elif draw(st.booleans()):
        # A fractional CPU is only allocated during requests.
        spec["resources"]["cpu_always_allocated"] = draw(st.booleans()) and not fractional
    secrets = draw(st.dictionaries(env_name, st.tuples(st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True), st.integers(1, 40)), max_size=3))
    secrets = {k: v for k, v in secrets.items() if k not in spec["env"]}
    if secrets:
        spec["secrets"] = {k: {"secret": s, "version": str(v)} for k, (s, v) in secrets.items()}
    rollout = draw(rollouts)
    if rollout is not None:
        spec["rollout"] = rollout
    return spec


def to_toml(spec):
    return tomli_w.dumps(spec)


def printable(s):
    """True when every character is allowed in free text (validation refuses the rest)."""
    return all(c in "\n\t" or not (ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) < 0xA0) for c in s) and "\r" not in s


__all__ = ["HOSTILE", "hostile_text", "specs", "string", "to_toml"]

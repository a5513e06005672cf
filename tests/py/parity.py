"""The canonical view of what a deployment deploys.

Every target's extractor (extract_pulumi.py, extract_terraform.py, extract_gcloud.py) reads
the generated files (or what running them recorded) and returns this same shape; the
parity test asserts that all of them equal expected(model) for the resolved model.

A canary is compared apart (`rollout(model, key)` against each extractor's `rollout`), because
reading it back takes runs that a user makes one after another: the first deploy, a deploy
beside the revision that served before, each step, a rollback.
"""


import re

from rollout import revision_name

_BY_DIGEST = re.compile(r"(?P<path>.+)@sha256:[0-9a-f]{64}")


def by_digest(ref):
    """An image reference with its digest made canonical: `PATH@sha256` for any digest (each
    target's mock reads a digest of its own), anything else unchanged. A tag stays a tag,
    so a target that deploys one fails parity with a built image."""
    m = _BY_DIGEST.fullmatch(ref or "")
    return f"{m['path']}@sha256" if m else ref


def expected(m):
    """The canonical view of a resolved deployment (`mlgen model` JSON)."""
    svc, c, s = m["service"], m["container"], m["scaling"]
    gpu = c["gpu"]
    return {
        "service": {
            "name": svc["name"],
            "project": svc["project"],
            "region": svc["region"],
            "description": svc["description"],
            "labels": {label["key"]: label["value"] for label in svc["labels"]},
            "deletion_protection": svc["deletion_protection"],
            "ingress": svc["ingress"],  # gcloud spelling: all | internal | internal-and-cloud-load-balancing
            "invoker_iam_disabled": svc["invoker_iam_disabled"],
        },
        # Built here, the service runs the build's digest; built elsewhere, what the spec names.
        # An image built elsewhere may be named by digest too, canonical as the targets' are.
        # A later environment runs the first one's build by the digest it is given.
        "image": f"{m['image']['path']}@sha256" if m["image"]["built_here"] or m["image"].get("promoted")
        else by_digest(m["image"]["url"]),
        "container": {
            "port": c["port"],
            "cpu": c["cpu"],
            "memory": c["memory"],
            "gpu": None if gpu is None else {
                "type": gpu["kind"],
                "count": gpu["count"],
                "zonal_redundancy_disabled": gpu["zonal_redundancy_disabled"],
            },
            "cpu_idle": c["cpu_idle"],
            "startup_cpu_boost": c["startup_cpu_boost"],
            "execution_environment": c["execution_environment"],  # gen1 | gen2
        },
        "scaling": {
            "min_instances": s["min_instances"],
            "max_instances": s["max_instances"],
            "concurrency": s["concurrency"],
            "timeout_seconds": s["timeout_seconds"],
        },
        "service_account": m["runtime_account"]["email"],
        "account": {
            "account_id": m["runtime_account"]["account_id"],
            "display_name": m["runtime_account"]["display_name"],
        },
        "repository": None if m["repository"] is None else {
            "id": m["repository"]["id"],
            "location": m["repository"]["location"],
            "format": "DOCKER",
        },
        "env": {e["name"]: e["value"] for e in m["env"]},
        "secrets": {e["name"]: {"secret": e["secret"], "version": e["version"]} for e in m["secrets"]},
        "volumes": sorted(
            ({k: v[k] for k in ("name", "bucket", "read_only", "mount_path", "mount_options")} for v in m["volumes"]),
            key=lambda v: v["name"],
        ),
        "probes": {
            kind: {k: m["probes"][kind][k] for k in (
                "path", "port", "initial_delay_seconds", "period_seconds", "timeout_seconds", "failure_threshold")}
            for kind in ("startup", "liveness")
        },
        "build_account": m["build_account"] and {
            k: m["build_account"][k] for k in ("account_id", "display_name", "email")},
        "iam": sorted_grants({**{k: g[k] for k in ("resource", "role", "member")},
                              "target": SPELLED_AS.get(g["target"], g["target"])} for g in m["iam"]),
        "apis": sorted(m["apis"]),
        "ci": ci(m),
    }


# Grant targets the model tells apart and every target spells alike: the build's staging
# bucket is granted on as any bucket is.
SPELLED_AS = {"staging_bucket": "bucket"}


def sorted_grants(grants):
    return sorted(grants, key=lambda g: (g["target"], g["resource"], g["role"], g["member"]))


# Where each grant of the deploy account is, as the `iam` entries name resources.
CI_TARGETS = {
    "runtime_account": ("service_account", lambda m: m["runtime_account"]["email"]),
    "service": ("service", lambda m: m["service"]["name"]),
    "repository": ("repository", lambda m: "projects/{project}/locations/{location}/repositories/{id}".format(
        **m["repository"])),
    "project": ("project", lambda m: m["service"]["project"]),
}


def ci(m):
    """The pipeline's cloud side: its account, grants, APIs and pool or trigger."""
    c = m["ci"]
    if c is None:
        return None
    account = c["account"]
    grants = [
        {"target": CI_TARGETS[g["on"]][0], "resource": CI_TARGETS[g["on"]][1](m), "role": g["role"],
         "member": account["member"]}
        for g in c["grants"]
    ]
    f, t = c["federation"], c["trigger"]
    if f:
        pool = f"projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{f['pool_id']}"
        grants.append({"target": "service_account", "resource": account["email"],
                       "role": "roles/iam.workloadIdentityUser",
                       "member": f"principalSet://iam.googleapis.com/{pool}/{f['principal_suffix']}"})
    return {
        "account": {"account_id": account["account_id"], "display_name": account["display_name"]},
        "apis": sorted(c["apis"]),
        "iam": sorted_grants(grants),
        "pool": f and {
            "id": f["pool_id"],
            "provider_id": f["provider_id"],
            "issuer_uri": f["issuer_uri"],
            "attribute_mapping": dict(f["attribute_mapping"]),
            "attribute_condition": f["attribute_condition"],
        },
        "trigger": t and {
            "name": t["name"],
            "filename": t["filename"],
            "github": {"owner": c["owner"], "name": c["name"], "branch": c["branch_regex"]},
            "approval_required": t["approval_required"],
            "service_account": account["email"],
        },
    }


# A canary's revisions by their part in it: the revision the deploy created, and the one it was
# given as the revision that served before it. Any other revision keeps its name.
CANDIDATE, STABLE = "candidate", "stable"


def rollout(m, key):
    """The canary of a resolved deployment, None without one. `key` is what its revision is named
    by: the content tag of the build, or the image reference when the image is built elsewhere.

    `revision`: the name the deploy gives its revision. `first`: the traffic after the first
    deploy, whose revision is its own stable one. `percents`: after a deploy beside a stable
    revision with the candidate at each percent (0, then the steps), `rollback`: after rolling
    back. Traffic is `{"split": {role: percent}, "tags": {tag: role}}`, shares of 0 left out."""
    r = m.get("rollout")
    if r is None:
        return None
    tags = {r["candidate_tag"]: CANDIDATE, r["stable_tag"]: STABLE}

    def after(split):
        shares = {CANDIDATE: split["candidate"], STABLE: split["stable"]}
        return {"split": {role: p for role, p in shares.items() if p}, "tags": tags}

    return {
        "revision": revision_name(m, key),
        "first": {"split": {CANDIDATE: 100}, "tags": dict.fromkeys(tags, CANDIDATE)},
        "percents": {s["candidate"]: after(s) for s in r["splits"]},
        "rollback": after(r["splits"][0]),
    }


def traffic(entries, candidate, stable):
    """A target's traffic, `(revision, percent, tag)` entries (tag or percent None where an entry
    has none), in rollout()'s shape: `candidate` is the revision the deploy created, `stable` the
    one it was given (None on a first deploy)."""
    def role(revision):
        return CANDIDATE if revision == candidate else STABLE if revision == stable else revision

    split, tags = {}, {}
    for revision, percent, tag in entries:
        if percent:
            split[role(revision)] = split.get(role(revision), 0) + percent
        if tag is not None:
            tags[tag] = role(revision)
    return {"split": split, "tags": tags}

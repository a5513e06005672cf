"""The canonical view of what a deployment deploys.

Every target's extractor (extract_pulumi.py, extract_terraform.py, extract_gcloud.py) reads
the generated files (or what running them recorded) and returns this same shape; the
parity test asserts that all of them equal expected(model) for the resolved model.
"""


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
            "labels": {l["key"]: l["value"] for l in svc["labels"]},
            "deletion_protection": svc["deletion_protection"],
            "ingress": svc["ingress"],  # gcloud spelling: all | internal | internal-and-cloud-load-balancing
            "invoker_iam_disabled": svc["invoker_iam_disabled"],
        },
        "image": m["image"]["url"],
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
        "iam": sorted(
            ({k: g[k] for k in ("target", "resource", "role", "member")} for g in m["iam"]),
            key=lambda g: (g["target"], g["resource"], g["role"], g["member"]),
        ),
        "apis": sorted(m["apis"]),
    }

"""What a generated Pulumi program deploys, in parity.py's canonical shape.

`extract(recorded)` reads the record of a mocked run (pulumi_harness.run_program): the
inputs each resource would send to the provider, with outputs of other resources resolved.
`rollout(first, by_percent, stable)` reads a canary from the records of several runs.
"""

from parity import by_digest, sorted_grants, traffic

SERVICE = "gcp:cloudrunv2/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
API = "gcp:projects/service:Service"
IAM = {
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secret", "secretId"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "bucket"),
    "gcp:storage/managedFolderIamMember:ManagedFolderIamMember": ("managed_folder", ("bucket", "managedFolder")),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": (
        "repository", ("project", "location", "repository")),
    "gcp:serviceaccount/iAMMember:IAMMember": ("service_account", "serviceAccountId"),
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("service", "name"),
    "gcp:projects/iAMMember:IAMMember": ("project", "project"),
}
POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
INGRESS = {
    "INGRESS_TRAFFIC_ALL": "all",
    "INGRESS_TRAFFIC_INTERNAL_ONLY": "internal",
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": "internal-and-cloud-load-balancing",
}
EXECUTION_ENVIRONMENT = {"EXECUTION_ENVIRONMENT_GEN1": "gen1", "EXECUTION_ENVIRONMENT_GEN2": "gen2"}
GPU_LIMIT = "nvidia.com/gpu"


def _only(resources, typ, name=None):
    found = [r["inputs"] for r in resources if r["type"] == typ and name in (None, r["name"])]
    assert len(found) <= 1, f"{len(found)} resources of type {typ}"
    return found[0] if found else None


def _seconds(duration):
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def _probe(p):
    return {
        "path": p["httpGet"]["path"],
        "port": p["httpGet"]["port"],
        "initial_delay_seconds": p["initialDelaySeconds"],
        "period_seconds": p["periodSeconds"],
        "timeout_seconds": p["timeoutSeconds"],
        "failure_threshold": p["failureThreshold"],
    }


def _iam_resource(target, value):
    if target == "managed_folder":
        return "/".join(value)
    if target == "repository":
        return "projects/{}/locations/{}/repositories/{}".format(*value)
    if target == "service_account":
        # projects/PROJECT/serviceAccounts/EMAIL, the account's `name` output
        return value.rsplit("/", 1)[-1]
    return value


def extract(recorded):
    resources = recorded["resources"]
    svc = _only(resources, SERVICE)
    assert svc is not None, "no Cloud Run service"
    account = _only(resources, ACCOUNT, "runtime")
    ci_account = _only(resources, ACCOUNT, "ci")
    repo = _only(resources, REPOSITORY)
    template = svc["template"]
    (container,) = template["containers"]
    resources_ = container["resources"]
    limits = resources_["limits"]
    selector = template.get("nodeSelector")
    envs = container.get("envs", [])
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}

    build = _only(resources, ACCOUNT, "build")
    build_account = build and {"account_id": build["accountId"], "display_name": build["displayName"],
                               "email": f"{build['accountId']}@{build['project']}.iam.gserviceaccount.com"}
    grants = _iam(resources)
    ci_member = ci_account and f"serviceAccount:{ci_account['accountId']}@{ci_account['project']}.iam.gserviceaccount.com"
    main_grants = [g for g in grants if g["member"] != ci_member and not g["member"].startswith("principalSet:")]
    apis = {r["name"]: r["inputs"]["service"] for r in resources if r["type"] == API}

    return {
        "service": {
            "name": svc["name"],
            "project": svc["project"],
            "region": svc["location"],
            "description": svc.get("description"),
            "labels": svc.get("labels", {}),
            "deletion_protection": svc["deletionProtection"],
            "ingress": INGRESS[svc["ingress"]],
            "invoker_iam_disabled": svc["invokerIamDisabled"],
        },
        "image": by_digest(container["image"]),
        "container": {
            "port": container["ports"]["containerPort"],
            "cpu": limits["cpu"],
            "memory": limits["memory"],
            "gpu": None if selector is None else {
                "type": selector["accelerator"],
                "count": int(limits[GPU_LIMIT]),
                "zonal_redundancy_disabled": template["gpuZonalRedundancyDisabled"],
            },
            "cpu_idle": resources_["cpuIdle"],
            "startup_cpu_boost": resources_["startupCpuBoost"],
            "execution_environment": EXECUTION_ENVIRONMENT[template["executionEnvironment"]],
        },
        "scaling": {
            "min_instances": template["scaling"]["minInstanceCount"],
            "max_instances": template["scaling"]["maxInstanceCount"],
            "concurrency": template["maxInstanceRequestConcurrency"],
            "timeout_seconds": _seconds(template["timeout"]),
        },
        "service_account": template["serviceAccount"],
        "account": {
            "account_id": account["accountId"],
            "display_name": account["displayName"],
        },
        "repository": None if repo is None else {
            "id": repo["repositoryId"],
            "location": repo["location"],
            "format": repo["format"],
        },
        "env": {e["name"]: e["value"] for e in envs if "valueSource" not in e},
        "secrets": {
            e["name"]: {
                "secret": e["valueSource"]["secretKeyRef"]["secret"],
                "version": e["valueSource"]["secretKeyRef"]["version"],
            }
            for e in envs
            if "valueSource" in e
        },
        "volumes": sorted(
            (
                {
                    "name": v["name"],
                    "bucket": v["gcs"]["bucket"],
                    "read_only": v["gcs"]["readOnly"],
                    "mount_path": mounts[v["name"]],
                    "mount_options": v["gcs"].get("mountOptions", []),
                }
                for v in template.get("volumes", [])
            ),
            key=lambda v: v["name"],
        ),
        "probes": {
            "startup": _probe(container["startupProbe"]),
            "liveness": _probe(container["livenessProbe"]),
        },
        "build_account": build_account,
        "iam": sorted_grants(main_grants),
        "apis": sorted(api for name, api in apis.items() if not name.startswith("ci-")),
        "ci": ci_account and {
            "account": {"account_id": ci_account["accountId"], "display_name": ci_account["displayName"]},
            "apis": sorted(api for name, api in apis.items() if name.startswith("ci-")),
            "iam": sorted_grants([g for g in grants if g not in main_grants]),
            "pool": _pool(_only(resources, POOL_PROVIDER)),
            "trigger": _trigger(_only(resources, TRIGGER)),
        },
    }


def rollout(first, by_percent, stable):
    """A canary in parity.rollout()'s shape, None when the service declares no traffic: `first`
    is the record of a run without config (the first deploy), `by_percent` {percent: record}
    of runs with config `stable_revision` = `stable` and `candidate_percent` = percent, 0 among
    them (0 is the rollback too)."""
    revision, traffic_first = _traffic(first, None)
    if traffic_first is None:
        return None
    percents = {}
    for percent, record in by_percent.items():
        created, percents[percent] = _traffic(record, stable)
        assert created == revision, f"the revision's name changed with the config: {created} != {revision}"
    return {"revision": revision, "first": traffic_first, "percents": percents, "rollback": percents.get(0)}


def _traffic(record, stable):
    """(the revision the run creates, its traffic), the traffic None when it declares none."""
    svc = _only(record["resources"], SERVICE)
    created = svc["template"].get("revision")
    if "traffics" not in svc:
        return created, None
    entries = []
    for t in svc["traffics"]:
        assert t["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", f"traffic not to a named revision: {t}"
        entries.append((t["revision"], t.get("percent"), t.get("tag")))
    return created, traffic(entries, created, stable)


def _iam(resources):
    out = []
    for r in resources:
        if r["type"] in IAM:
            target, field = IAM[r["type"]]
            i = r["inputs"]
            out.append({
                "target": target,
                "resource": _iam_resource(
                    target, tuple(i[f] for f in field) if isinstance(field, tuple) else i[field]),
                "role": i["role"],
                "member": i["member"],
            })
    return out


def _pool(p):
    return p and {
        "id": p["workloadIdentityPoolId"],
        "provider_id": p["workloadIdentityPoolProviderId"],
        "issuer_uri": p["oidc"]["issuerUri"],
        "attribute_mapping": p["attributeMapping"],
        "attribute_condition": p["attributeCondition"],
    }


def _trigger(t):
    return t and {
        "name": t["name"],
        "filename": t["filename"],
        "github": {"owner": t["github"]["owner"], "name": t["github"]["name"], "branch": t["github"]["push"]["branch"]},
        "approval_required": t["approvalConfig"]["approvalRequired"],
        "service_account": t["serviceAccount"].rsplit("/", 1)[-1],
    }

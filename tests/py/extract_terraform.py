"""What a generated Terraform folder deploys, in parity.py's canonical shape.

`extract(tf_dir)` reads the .tf files (python-hcl2) and resolves what Terraform would:
variables to their defaults, references to the values they stand for (a service account's
`email` from its account_id and project, its `member` and `name` from the email, a
resource's argument to that argument's value, locals and the few functions a canary's names
and shares use), and the provider's spellings back to the canonical ones (ingress and
execution environment as gcloud spells them, "300s" as 300). Anything it cannot resolve is an
error, never a guess. `rollout(tf_dir, ...)` reads a canary's traffic at each percent.
"""

import re

from controlplane.terraform import CALL, CALLS, arguments
from parity import by_digest, sorted_grants, traffic
from tf_validate import (
    BLOCK,
    data_sources,
    hcl_string,
    is_expression,
    is_string_literal,
    load_dir,
    resources,
    unquote,
    variables,
)

INGRESS = {
    "INGRESS_TRAFFIC_ALL": "all",
    "INGRESS_TRAFFIC_INTERNAL_ONLY": "internal",
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": "internal-and-cloud-load-balancing",
}
EXECUTION_ENVIRONMENT = {
    "EXECUTION_ENVIRONMENT_GEN1": "gen1",
    "EXECUTION_ENVIRONMENT_GEN2": "gen2",
}
IAM_TARGETS = {
    "google_secret_manager_secret_iam_member": ("secret", "secret_id"),
    "google_storage_bucket_iam_member": ("bucket", "bucket"),
    "google_storage_managed_folder_iam_member": ("managed_folder", ("bucket", "managed_folder")),
    "google_artifact_registry_repository_iam_member": ("repository", ("project", "location", "repository")),
    "google_service_account_iam_member": ("service_account", "service_account_id"),
    "google_cloud_run_v2_service_iam_member": ("service", "name"),
    "google_project_iam_member": ("project", "project"),
}


class Config:
    def __init__(self, tf_dir, given=None, content_tag=None):
        parsed = load_dir(tf_dir)
        self.vars = variables(parsed)
        self.given = dict(given or {})  # `-var NAME=VALUE`
        self.locals = {k: v for doc in parsed.values() for e in doc.get("locals", []) for k, v in e.items()
                       if k not in (BLOCK, "__comments__")}
        # local.content_tag hashes the build's files (fileset, filesha256): the caller gives its value.
        self.content_tag = content_tag
        self.res = {(t, n): b for _, t, n, b in resources(parsed)}
        self.res.update({("data." + t, n): b for _, t, n, b in data_sources(parsed)})

    def one(self, rtype):
        found = [b for (t, _), b in self.res.items() if t == rtype]
        assert len(found) == 1, f"expected one {rtype}, found {len(found)}"
        return found[0]

    def all(self, rtype):
        return [b for (t, _), b in sorted(self.res.items()) if t == rtype]

    def value(self, v):
        """The concrete value of an attribute value."""
        if isinstance(v, (bool, int, float)) or v is None:
            return v
        if isinstance(v, dict):
            return {unquote(k): self.value(x) for k, x in v.items() if k != BLOCK}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if is_string_literal(v):
            # Interpolations (`${expr}`, not the literal `$${`) are read like expressions.
            parts = re.split(r"(?<!\$)\$\{([^}]*)\}", v[1:-1])
            return "".join(
                str(self.expr(p)) if i % 2 else hcl_string(f'"{p}"') for i, p in enumerate(parts)
            )
        if is_expression(v):
            return self.expr(v[2:-1])
        raise ValueError(f"cannot read {v!r}")

    def expr(self, e):
        m = re.fullmatch(r"var\.(\w+)", e)
        if m and m[1] in self.given:
            return self.given[m[1]]
        if m:
            return self.value(self.vars[m[1]]["default"])
        m = re.fullmatch(r"local\.(\w+)", e)
        if m and m[1] == "content_tag" and self.content_tag is not None:
            return self.content_tag
        if m and m[1] != "content_tag":
            return self.value(self.locals[m[1]])
        m = CALL.fullmatch(e)
        if m and m[1] in CALLS:  # the functions the control plane's Terraform evaluates too
            return CALLS[m[1]](*(self.operand(a) for a in arguments(m[2])))
        m = re.fullmatch(r"data\.google_artifact_registry_docker_image\.([\w-]+)\.self_link", e)
        if m:
            return self.built_image(self.res[("data.google_artifact_registry_docker_image", m[1])])
        m = re.fullmatch(r"((?:data\.)?[\w-]+)\.([\w-]+)\.(\w+)", e)
        if m:
            return self.attribute(m[1], m[2], m[3])
        raise ValueError(f"cannot resolve ${{{e}}}")

    def operand(self, text):
        """A function's argument: a string literal, a whole number or an expression."""
        text = text.strip()
        if text.startswith('"'):
            return self.value(text)
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return self.expr(text)

    def built_image(self, body):
        """The image the build pushed, by digest (unknown until the build ran): its path, read
        only when the data source asks for the tag the build pushes, the content tag."""
        name, tag = body["image_name"][1:-1].split(":")
        assert tag == "${local.content_tag}", f"the image is not read by its content tag: {tag}"
        location, repo = self.value(body["location"]), self.value(body["repository_id"])
        return f"{location}-docker.pkg.dev/{self.value(body['project'])}/{repo}/{name}@sha256"

    def attribute(self, rtype, name, attr):
        body = self.res[(rtype, name)]
        if rtype == "google_service_account" and attr in ("email", "member", "name", "id"):
            project = self.value(body["project"])
            email = f"{self.value(body['account_id'])}@{project}.iam.gserviceaccount.com"
            return {
                "email": email,
                "member": f"serviceAccount:{email}",
                "name": f"projects/{project}/serviceAccounts/{email}",
                "id": f"projects/{project}/serviceAccounts/{email}",
            }[attr]
        if rtype == "google_iam_workload_identity_pool" and attr == "name":
            pool = self.value(body["workload_identity_pool_id"])
            return f"projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{pool}"
        if rtype in ("google_artifact_registry_repository", "data.google_artifact_registry_repository") \
                and attr == "name":
            return self.value(body["repository_id"])
        if rtype == "data.google_project" and attr == "number":
            return "PROJECT_NUMBER"  # known only to the API; the model writes it so
        if attr in body:
            return self.value(body[attr])
        raise ValueError(f"cannot resolve {rtype}.{name}.{attr}")


def block(body, key):
    """The single nested block `key` of body, or None."""
    items = body.get(key)
    if items is None:
        return None
    assert isinstance(items, list) and len(items) == 1 and items[0].get(BLOCK), f"{key} is not one block"
    return items[0]


def seconds(duration):
    m = re.fullmatch(r"(\d+)s", duration)
    assert m, f"not a whole-second duration: {duration!r}"
    return int(m[1])


def apis(cfg, names):
    out = []
    for (rtype, name), body in sorted(cfg.res.items()):
        if rtype != "google_project_service" or name not in names:
            continue
        if "for_each" in body:
            fe = body["for_each"]
            m = re.fullmatch(r"\$\{toset\(\[(.*)\]\)\}", fe, re.S)
            assert m, f"unexpected for_each {fe!r}"
            assert body["service"] == "${each.value}", "service is not each.value"
            out += [hcl_string(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', m[1])]
        else:
            out.append(cfg.value(body["service"]))
    return sorted(out)


def probe(cfg, p):
    http = block(p, "http_get")
    return {
        "path": cfg.value(http["path"]),
        "port": cfg.value(http["port"]),
        "initial_delay_seconds": cfg.value(p["initial_delay_seconds"]),
        "period_seconds": cfg.value(p["period_seconds"]),
        "timeout_seconds": cfg.value(p["timeout_seconds"]),
        "failure_threshold": cfg.value(p["failure_threshold"]),
    }


def extract(tf_dir, given=None):
    cfg = Config(tf_dir, given)
    svc = cfg.one("google_cloud_run_v2_service")
    tpl = block(svc, "template")
    [ctr] = tpl["containers"]
    res = block(ctr, "resources")
    limits = cfg.value(res["limits"])
    node = block(tpl, "node_selector")
    scaling = block(tpl, "scaling")
    account = cfg.res[("google_service_account", "runtime")]
    repos = cfg.all("google_artifact_registry_repository")
    assert len(repos) <= 1

    env, secrets = {}, {}
    for e in ctr.get("env", []):
        name = cfg.value(e["name"])
        source = block(e, "value_source")
        if source is None:
            env[name] = cfg.value(e["value"])
        else:
            ref = block(source, "secret_key_ref")
            secrets[name] = {"secret": cfg.value(ref["secret"]), "version": cfg.value(ref["version"])}

    mounts = {cfg.value(m["name"]): cfg.value(m["mount_path"]) for m in ctr.get("volume_mounts", [])}
    volumes = []
    for v in tpl.get("volumes", []):
        gcs = block(v, "gcs")
        name = cfg.value(v["name"])
        volumes.append({
            "name": name,
            "bucket": cfg.value(gcs["bucket"]),
            "read_only": cfg.value(gcs.get("read_only", False)),
            "mount_path": mounts[name],
            "mount_options": cfg.value(gcs.get("mount_options", [])),
        })

    ci_account = cfg.res.get(("google_service_account", "ci"))
    ci_member = ci_account and cfg.attribute("google_service_account", "ci", "member")
    build = cfg.res.get(("google_service_account", "build"))
    build_account = build and {
        "account_id": cfg.value(build["account_id"]),
        "display_name": cfg.value(build["display_name"]),
        "email": cfg.attribute("google_service_account", "build", "email"),
    }
    grants = iam(cfg)
    main_grants = [g for g in grants if g["member"] != ci_member and not g["member"].startswith("principalSet:")]

    return {
        "service": {
            "name": cfg.value(svc["name"]),
            "project": cfg.value(svc["project"]),
            "region": cfg.value(svc["location"]),
            "description": cfg.value(svc.get("description")),
            "labels": cfg.value(svc.get("labels", {})),
            "deletion_protection": cfg.value(svc["deletion_protection"]),
            "ingress": INGRESS[cfg.value(svc["ingress"])],
            "invoker_iam_disabled": cfg.value(svc.get("invoker_iam_disabled", False)),
        },
        "image": by_digest(cfg.value(ctr["image"])),
        "container": {
            "port": cfg.value(block(ctr, "ports")["container_port"]),
            "cpu": limits["cpu"],
            "memory": limits["memory"],
            "gpu": None if node is None else {
                "type": cfg.value(node["accelerator"]),
                "count": int(limits["nvidia.com/gpu"]),
                "zonal_redundancy_disabled": cfg.value(tpl.get("gpu_zonal_redundancy_disabled", False)),
            },
            "cpu_idle": cfg.value(res["cpu_idle"]),
            "startup_cpu_boost": cfg.value(res["startup_cpu_boost"]),
            "execution_environment": EXECUTION_ENVIRONMENT[cfg.value(tpl["execution_environment"])],
        },
        "scaling": {
            "min_instances": cfg.value(scaling["min_instance_count"]),
            "max_instances": cfg.value(scaling["max_instance_count"]),
            "concurrency": cfg.value(tpl["max_instance_request_concurrency"]),
            "timeout_seconds": seconds(cfg.value(tpl["timeout"])),
        },
        "service_account": cfg.value(tpl["service_account"]),
        "account": {
            "account_id": cfg.value(account["account_id"]),
            "display_name": cfg.value(account["display_name"]),
        },
        "repository": None if not repos else {
            "id": cfg.value(repos[0]["repository_id"]),
            "location": cfg.value(repos[0]["location"]),
            "format": cfg.value(repos[0]["format"]),
        },
        "env": env,
        "secrets": secrets,
        "volumes": sorted(volumes, key=lambda v: v["name"]),
        "probes": {
            "startup": probe(cfg, block(ctr, "startup_probe")),
            "liveness": probe(cfg, block(ctr, "liveness_probe")),
        },
        "build_account": build_account,
        "iam": sorted_grants(main_grants),
        "apis": apis(cfg, {"apis"}),
        "ci": ci_account and {
            "account": {
                "account_id": cfg.value(ci_account["account_id"]),
                "display_name": cfg.value(ci_account["display_name"]),
            },
            "apis": apis(cfg, {"ci_apis"}),
            "iam": sorted_grants([g for g in grants if g not in main_grants]),
            "pool": pool(cfg),
            "trigger": trigger(cfg),
        },
    }


def iam(cfg):
    """Every IAM member resource as a grant."""
    out = []
    for rtype, (target, key) in IAM_TARGETS.items():
        for body in cfg.all(rtype):
            if target == "managed_folder":
                resource = "/".join(cfg.value(body[k]) for k in key)
            elif target == "repository":
                resource = "projects/{}/locations/{}/repositories/{}".format(*(cfg.value(body[k]) for k in key))
            else:
                resource = cfg.value(body[key])
            if target == "service_account":
                resource = resource.rsplit("/", 1)[-1]  # projects/P/serviceAccounts/EMAIL
            out.append({
                "target": target,
                "resource": resource,
                "role": cfg.value(body["role"]),
                "member": cfg.value(body["member"]),
            })
    return out


def pool(cfg):
    body = cfg.res.get(("google_iam_workload_identity_pool_provider", "ci"))
    if body is None:
        return None
    return {
        "id": cfg.value(body["workload_identity_pool_id"]),
        "provider_id": cfg.value(body["workload_identity_pool_provider_id"]),
        "issuer_uri": cfg.value(block(body, "oidc")["issuer_uri"]),
        "attribute_mapping": cfg.value(body["attribute_mapping"]),
        "attribute_condition": cfg.value(body["attribute_condition"]),
    }


def trigger(cfg):
    body = cfg.res.get(("google_cloudbuild_trigger", "ci"))
    if body is None:
        return None
    github = block(body, "github")
    return {
        "name": cfg.value(body["name"]),
        "filename": cfg.value(body["filename"]),
        "github": {
            "owner": cfg.value(github["owner"]),
            "name": cfg.value(github["name"]),
            "branch": cfg.value(block(github, "push")["branch"]),
        },
        "approval_required": cfg.value(block(body, "approval_config")["approval_required"]),
        "service_account": cfg.value(body["service_account"]).rsplit("/", 1)[-1],
    }


def rollout(tf_dir, stable, percents, given=None, content_tag=None):
    """A canary in parity.rollout()'s shape, None when the service declares no traffic: the
    traffic of an apply with the variables' defaults (the first), then of one with
    `-var stable_revision=STABLE -var candidate_percent=P` for each of `percents` (0 among
    them, the rollback too). `given`: the `-var`s of every apply (a later environment's image);
    `content_tag`: local.content_tag's value."""
    cfg = Config(tf_dir, given, content_tag)
    svc = cfg.one("google_cloud_run_v2_service")
    if "traffic" not in svc:
        return None
    revision = cfg.value(block(svc, "template").get("revision"))

    def applied(inputs, stable_given):
        cfg.given = {**(given or {}), **inputs}
        entries = []
        for t in svc["traffic"]:
            assert cfg.value(t["type"]) == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", f"traffic not to a named revision: {t}"
            entries.append((cfg.value(t.get("revision")), cfg.value(t.get("percent")), cfg.value(t.get("tag"))))
        return traffic(entries, revision, stable_given)

    by_percent = {p: applied({"stable_revision": stable, "candidate_percent": p}, stable) for p in percents}
    return {"revision": revision, "first": applied({}, None), "percents": by_percent, "rollback": by_percent.get(0)}

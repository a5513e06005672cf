"""What the gcloud scripts deploy, read back from the calls the stand-in gcloud recorded.

extract(records) returns the canonical view of parity.py::expected(model), so the parity
test can assert that the scripts deploy exactly what the model says. `records` are the
stand-in's log entries (dicts with "argv", "rc" and "files") of one deploy.sh run followed
by one `teardown.sh --yes` run, in order:

- every setting of the service comes from the last successful `run deploy` (flags parsed
  back as gcloud would, KEY=VALUE lists included; env vars from the contents of the
  --env-vars-file as it was when gcloud read it);
- the account and repository from their `create` calls, the APIs from `services enable`,
  the IAM grants from the `add-iam-policy-binding` calls (the Cloud Run service agent's
  project number written back as the model's PROJECT_NUMBER);
- the pipeline's cloud side (`ci`) from `ci_records`, the calls of one ci-setup.sh run
  after the deploy, or None without them;
- deletion_protection from the teardown: gcloud has no such setting (Cloud Run's
  deletion protection lives in Terraform/Pulumi state), so the scripts carry it by
  refusing to delete a protected service. It is true when the service was deployed and
  the teardown that followed did not delete it.

rollout(first, by_percent, rolled_back, stable) reads a canary back from the traffic calls of
several runs: `run deploy`'s `--revision-suffix`, `--tag` and `--no-traffic`, and
`run services update-traffic`'s `--to-revisions`, `--to-tags` and `--update-tags`.
"""

import yaml
from gcloud_standin import RUN_AGENT, parse_dict, project_number
from parity import by_digest, traffic


def _flags(argv):
    """Flags as name -> list of values (None for a bare boolean), positionals after the
    command path. Every flag the scripts pass is written --name=value or bare."""
    flags, positionals = {}, []
    for tok in argv:
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            flags.setdefault(name, []).append(value if eq else None)
        else:
            positionals.append(tok)
    return flags, positionals


def _calls(records, prefix):
    """(flags, positionals after the prefix) of every successful call of a command."""
    words = prefix.split()
    out = []
    for r in records:
        argv = r["argv"]
        if r.get("rc") == 0 and argv[: len(words)] == words:
            flags, pos = _flags(argv[len(words):])
            out.append((flags, pos, r))
    return out


def _last(flags, name):
    values = flags.get(name)
    return values[-1] if values else None


def _switch(flags, name):
    """--name -> True, --no-name -> False, neither -> None."""
    if name in flags:
        return True
    if "--no-" + name[2:] in flags:
        return False
    return None


def _seconds(text):
    return int(text[:-1]) if text.endswith("s") else int(text)


def _probe(text):
    p = parse_dict("probe", text)
    return {
        "path": p["httpGet.path"],
        "port": int(p["httpGet.port"]),
        "initial_delay_seconds": int(p.get("initialDelaySeconds", 0)),
        "period_seconds": int(p["periodSeconds"]),
        "timeout_seconds": int(p["timeoutSeconds"]),
        "failure_threshold": int(p["failureThreshold"]),
    }


def extract(records, ci_records=()):
    deploys = _calls(records, "run deploy") + _calls(records, "beta run deploy")
    assert deploys, "no successful `gcloud run deploy` was recorded"
    flags, pos, deploy_record = max(deploys, key=lambda d: records.index(d[2]))
    deploy_index = records.index(deploy_record)

    gpu = None
    if _last(flags, "--gpu") not in (None, "0"):
        gpu = {
            "type": _last(flags, "--gpu-type"),
            "count": int(_last(flags, "--gpu")),
            "zonal_redundancy_disabled": _switch(flags, "--gpu-zonal-redundancy") is False,
        }

    labels = {}
    for value in flags.get("--labels", []) + flags.get("--update-labels", []):
        labels.update(parse_dict("--update-labels", value))

    env = {}
    if "--env-vars-file" in flags:
        env = yaml.safe_load(deploy_record["files"]["--env-vars-file"]) or {}
    secrets = {}
    for value in flags.get("--set-secrets", []):
        for name, ref in parse_dict("--set-secrets", value).items():
            secret, _, version = ref.partition(":")
            secrets[name] = {"secret": secret, "version": version}

    mounts = {}
    for value in flags.get("--add-volume-mount", []):
        m = parse_dict("--add-volume-mount", value)
        mounts[m["volume"]] = m["mount-path"]
    volumes = []
    for value in flags.get("--add-volume", []):
        v = parse_dict("--add-volume", value)
        assert v["type"] == "cloud-storage", v
        volumes.append({
            "name": v["name"],
            "bucket": v["bucket"],
            "read_only": v.get("readonly", "false").lower() == "true",
            "mount_path": mounts[v["name"]],
            "mount_options": [o for o in v.get("mount-options", "").split(";") if o],
        })

    repository = None
    for f, p, _ in _calls(records, "artifacts repositories create"):
        repository = {"id": p[0], "location": _last(f, "--location"),
                      "format": _last(f, "--repository-format").upper()}

    # The runtime account, and the account the image build runs as.
    accounts = {f"{p[0]}@{_last(f, '--project')}.iam.gserviceaccount.com":
                {"account_id": p[0], "display_name": _last(f, "--display-name")}
                for f, p, _ in _calls(records, "iam service-accounts create")}
    account = accounts.get(_last(flags, "--service-account"))
    build_account = None
    for f, _, _ in _calls(records, "builds submit"):
        email = _last(f, "--service-account").rsplit("/", 1)[-1]
        build_account = accounts[email] | {"email": email}

    apis = set()
    for _, p, _ in _calls(records, "services enable"):
        apis.update(p)

    deleted_after = any(
        records.index(r) > deploy_index and p[:1] == pos[:1]
        for _, p, r in _calls(records, "run services delete")
    )

    invoker_check = _switch(flags, "--invoker-iam-check")
    return {
        "service": {
            "name": pos[0],
            "project": _last(flags, "--project"),
            "region": _last(flags, "--region"),
            "description": _last(flags, "--description"),
            "labels": labels,
            "deletion_protection": not deleted_after,
            "ingress": _last(flags, "--ingress") or "all",
            "invoker_iam_disabled": invoker_check is False,
        },
        "image": by_digest(_last(flags, "--image")),
        "container": {
            "port": int(_last(flags, "--port")),
            "cpu": _last(flags, "--cpu"),
            "memory": _last(flags, "--memory"),
            "gpu": gpu,
            "cpu_idle": _switch(flags, "--cpu-throttling") is not False,
            "startup_cpu_boost": bool(_switch(flags, "--cpu-boost")),
            "execution_environment": _last(flags, "--execution-environment"),
        },
        "scaling": {
            "min_instances": int(_last(flags, "--min-instances")),
            "max_instances": int(_last(flags, "--max-instances")),
            "concurrency": int(_last(flags, "--concurrency")),
            "timeout_seconds": _seconds(_last(flags, "--timeout")),
        },
        "service_account": _last(flags, "--service-account"),
        "account": account,
        "repository": repository,
        "env": env,
        "secrets": secrets,
        "volumes": sorted(volumes, key=lambda v: v["name"]),
        "probes": {
            "startup": _probe(_last(flags, "--startup-probe")),
            "liveness": _probe(_last(flags, "--liveness-probe")),
        },
        "build_account": build_account,
        "iam": _grants(records, _last(flags, "--project")),
        "apis": sorted(apis),
        "ci": _ci(ci_records) if ci_records else None,
    }


def rollout(first, by_percent, rolled_back, stable):
    """A canary in parity.rollout()'s shape, None when the deploy names no revision: `first`
    holds the calls of a deploy.sh run without STABLE_REVISION; `by_percent` {percent: calls}
    those of a run with STABLE_REVISION=`stable` (at 0), then of it and `promote.sh PERCENT`
    for each step, and `rolled_back` those and `rollback.sh` after them."""
    revision, traffic_first = _traffic(first, None)
    if revision is None:
        return None
    percents = {}
    for percent, records in by_percent.items():
        created, percents[percent] = _traffic(records, stable)
        assert created == revision, f"the revision's name changed with STABLE_REVISION: {created} != {revision}"
    return {"revision": revision, "first": traffic_first, "percents": percents,
            "rollback": rolled_back and _traffic(rolled_back, stable)[1]}


def _traffic(records, stable):
    """(the revision the last deploy created, the traffic the calls leave), replaying them as
    Cloud Run does: a new service sends everything to its first revision, a deploy without
    --no-traffic to the new one; the shares of update-traffic go to revisions or tagged ones
    and, as the scripts write them, add up to 100. Revisions are named SERVICE-SUFFIX."""
    created, split, tags = None, {}, {}
    for record in records:
        argv = record["argv"][1:] if record["argv"][:1] == ["beta"] else record["argv"]
        if record.get("rc") != 0:
            continue
        if argv[:2] == ["run", "deploy"]:
            flags, pos = _flags(argv[2:])
            suffix = _last(flags, "--revision-suffix")
            if suffix is None:
                return None, None
            created = f"{pos[0]}-{suffix}"
            if "--no-traffic" not in flags:
                split = {created: 100}
            tags.update(dict.fromkeys(flags.get("--tag", []), created))
        elif argv[:3] == ["run", "services", "update-traffic"]:
            flags, _ = _flags(argv[3:])
            for value in flags.get("--update-tags", []):
                tags.update(parse_dict("--update-tags", value))
            for flag, revision in (("--to-revisions", lambda k: k), ("--to-tags", tags.__getitem__)):
                for value in flags.get(flag, []):
                    split = {}
                    for key, percent in parse_dict(flag, value).items():
                        split[revision(key)] = split.get(revision(key), 0) + int(percent)
                    assert sum(split.values()) == 100, f"{flag}={value} does not add up to 100"
    entries = [(r, p, None) for r, p in split.items()] + [(r, None, t) for t, r in tags.items()]
    return created, traffic(entries, created, stable)


GRANT_GROUPS = (("secrets", "secret"), ("storage buckets", "bucket"),
                ("storage managed-folders", "managed_folder"), ("artifacts repositories", "repository"),
                ("iam service-accounts", "service_account"), ("run services", "service"),
                ("projects", "project"))


def _grants(records, project):
    """Every binding added, with the project's number written back as PROJECT_NUMBER."""
    number = project_number(project)
    out = set()
    for prefix, target in GRANT_GROUPS:
        for f, p, _ in _calls(records, prefix + " add-iam-policy-binding"):
            resource = p[0]
            if target == "bucket":
                resource = resource.removeprefix("gs://").rstrip("/")
            elif target == "managed_folder":
                resource = resource.removeprefix("gs://")
            elif target == "repository":
                resource = f"projects/{_last(f, '--project')}/locations/{_last(f, '--location')}/repositories/{p[0]}"
            member = _last(f, "--member")
            if member == RUN_AGENT.format(number):
                member = RUN_AGENT.format("PROJECT_NUMBER")
            member = member.replace(f"/projects/{number}/", "/projects/PROJECT_NUMBER/")
            out.add((target, resource, _last(f, "--role"), member))
    return [{"target": t, "resource": r, "role": role, "member": m} for t, r, role, m in sorted(out)]


def _ci(records):
    """The pipeline's cloud side, from one ci-setup.sh run."""
    [(f, p, _)] = _calls(records, "iam service-accounts create")
    project = _last(f, "--project")
    pools = _calls(records, "iam workload-identity-pools providers create-oidc")
    triggers = _calls(records, "builds triggers create github")
    pool = trigger = None
    for pf, pp, _ in pools:
        pool = {
            "id": _last(pf, "--workload-identity-pool"),
            "provider_id": pp[0],
            "issuer_uri": _last(pf, "--issuer-uri"),
            "attribute_mapping": parse_dict("--attribute-mapping", _last(pf, "--attribute-mapping")),
            "attribute_condition": _last(pf, "--attribute-condition"),
        }
    for tf, _, _ in triggers:
        trigger = {
            "name": _last(tf, "--name"),
            "filename": _last(tf, "--build-config"),
            "github": {"owner": _last(tf, "--repo-owner"), "name": _last(tf, "--repo-name"),
                       "branch": _last(tf, "--branch-pattern")},
            "approval_required": "--require-approval" in tf,
            "service_account": _last(tf, "--service-account").rsplit("/", 1)[-1],
        }
    return {
        "account": {"account_id": p[0], "display_name": _last(f, "--display-name")},
        "apis": sorted(api for _, ap, _ in _calls(records, "services enable") for api in ap),
        "iam": _grants(records, project),
        "pool": pool,
        "trigger": trigger,
    }

"""The Cloud Run service as the control plane holds it: the provider's camelCase shape
(the Terraform blocks and Pulumi inputs of google_cloud_run_v2_service), with the defaults
the API fills in made explicit, so that what each target sends compares directly.
gcloud's `run deploy` flags are mapped onto the same shape here, once.
"""

import copy
import re

from gcloud_standin import parse_dict

INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
EXECUTION_ENVIRONMENT = {"gen1": "EXECUTION_ENVIRONMENT_GEN1", "gen2": "EXECUTION_ENVIRONMENT_GEN2"}
PROBE_DEFAULTS = {"initialDelaySeconds": 0}
# Fields of the service resource that are not its configuration.
NOT_CONFIG = {"name", "project", "location", "deletionProtection"}


def canonical(service):
    """The configuration of a provider-shaped service (inputs), defaults filled, lists sorted."""
    config = {k: copy.deepcopy(v) for k, v in service.items() if k not in NOT_CONFIG}
    if "traffics" in config:  # Pulumi's name of the Terraform blocks
        config["traffic"] = config.pop("traffics")
    config.setdefault("labels", {})
    config.setdefault("invokerIamDisabled", False)
    config.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
    t = config["template"]
    if "nodeSelector" not in t:
        t.pop("gpuZonalRedundancyDisabled", None)
    else:
        t.setdefault("gpuZonalRedundancyDisabled", False)
    t["volumes"] = sorted(t.get("volumes", []), key=lambda v: v["name"])
    for c in t["containers"]:
        c["envs"] = sorted(c.get("envs", []), key=lambda e: e["name"])
        c["volumeMounts"] = sorted(c.get("volumeMounts", []), key=lambda m: m["name"])
        for probe in ("startupProbe", "livenessProbe"):
            if probe in c:
                c[probe] = {**PROBE_DEFAULTS, **c[probe]}
    return config


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


# Terraform blocks that repeat (lists); every other block of the service holds at most one.
REPEATED_BLOCKS = {"containers", "env", "volumes", "volume_mounts", "traffic"}
# Where the Terraform block name and the provider's wire name differ.
RENAMED = {"env": "envs"}


def from_terraform(body, value, is_block):
    """Provider shape of a google_cloud_run_v2_service body; `value` resolves an attribute."""
    out = {}
    for key, v in body.items():
        if key in ("depends_on", "lifecycle", "provider", "count", "for_each") or key.startswith("__"):
            continue
        name = _camel(RENAMED.get(key, key))
        if is_block(v):
            blocks = [from_terraform(b, value, is_block) for b in v]
            out[name] = blocks if key in REPEATED_BLOCKS else blocks[0]
        else:
            out[name] = value(v)
    return out


def _flags(argv):
    flags, positionals = {}, []
    for tok in argv:
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            flags.setdefault(name, []).append(value if eq else None)
        else:
            positionals.append(tok)
    return flags, positionals


def _probe(text):
    p = parse_dict("probe", text)
    probe = {"httpGet": {"path": p.pop("httpGet.path"), "port": int(p.pop("httpGet.port"))}}
    probe.update({k: int(v) for k, v in p.items()})
    return {**PROBE_DEFAULTS, **probe}


class RunDeploy:
    """One `gcloud run deploy` call: flags parsed as gcloud reads them."""

    def __init__(self, argv, env_file_text, load_yaml):
        self.flags, self.positionals = _flags(argv[2:])
        self.env_file = load_yaml(env_file_text) if env_file_text is not None else None

    def last(self, name, default=None):
        values = self.flags.get(name)
        return values[-1] if values else default

    def switch(self, name):
        """--name -> True, --no-name -> False, neither -> None."""
        if name in self.flags:
            return True
        if "--no-" + name[2:] in self.flags:
            return False
        return None

    def labels(self, old):
        """gcloud's label flags: --labels is an alias of --update-labels (merges)."""
        if "--clear-labels" in self.flags:
            old = {}
        labels = dict(old)
        for flag in ("--labels", "--update-labels"):
            for value in self.flags.get(flag, []):
                labels.update(parse_dict(flag, value))
        for value in self.flags.get("--remove-labels", []):
            for key in value.split(","):
                labels.pop(key, None)
        return labels

    def config(self, old):
        """The service after this call, given the one before it (None when it is created)."""
        old = old or {}
        old_t = old.get("template", {})
        old_c = (old_t.get("containers") or [{}])[0]
        f = self.last
        limits = {"cpu": f("--cpu"), "memory": f("--memory")}
        gpu = f("--gpu")
        template = {
            "serviceAccount": f("--service-account", old_t.get("serviceAccount")),
            "timeout": f"{int(f('--timeout').removesuffix('s'))}s",
            "maxInstanceRequestConcurrency": int(f("--concurrency")),
            "executionEnvironment": EXECUTION_ENVIRONMENT[f("--execution-environment")],
            "scaling": {"minInstanceCount": int(f("--min-instances")), "maxInstanceCount": int(f("--max-instances"))},
        }
        if gpu not in (None, "0"):
            limits["nvidia.com/gpu"] = gpu
            template["nodeSelector"] = {"accelerator": f("--gpu-type")}
            template["gpuZonalRedundancyDisabled"] = self.switch("--gpu-zonal-redundancy") is False
        volumes, mounts = self._volumes(old_t, old_c)
        container = {
            "image": f("--image"),
            "ports": {"containerPort": int(f("--port"))},
            "resources": {
                "limits": limits,
                "cpuIdle": self.switch("--cpu-throttling") is not False,
                "startupCpuBoost": bool(self.switch("--cpu-boost")),
            },
            "envs": self._envs(old_c),
            "volumeMounts": mounts,
            "startupProbe": _probe(f("--startup-probe")),
            "livenessProbe": _probe(f("--liveness-probe")),
        }
        template["volumes"] = volumes
        template["containers"] = [container]
        service = {
            "description": f("--description", old.get("description")),
            "labels": self.labels(old.get("labels", {})),
            "ingress": INGRESS[f("--ingress", "all")],
            "invokerIamDisabled": self.switch("--invoker-iam-check") is False,
            "template": template,
        }
        return canonical({k: v for k, v in service.items() if v is not None})

    def _envs(self, old_c):
        old = old_c.get("envs", [])
        plain = [e for e in old if "valueSource" not in e]
        secret = [e for e in old if "valueSource" in e]
        if self.env_file is not None:  # --env-vars-file replaces every plain variable
            plain = [{"name": k, "value": v} for k, v in self.env_file.items()]
        if "--set-secrets" in self.flags:  # replaces every secret reference
            secret = []
            for value in self.flags["--set-secrets"]:
                for name, ref in parse_dict("--set-secrets", value).items():
                    s, _, version = ref.partition(":")
                    secret.append({"name": name, "valueSource": {"secretKeyRef": {"secret": s, "version": version}}})
        return plain + secret

    def _volumes(self, old_t, old_c):
        volumes = [] if "--clear-volumes" in self.flags else list(old_t.get("volumes", []))
        mounts = [] if "--clear-volume-mounts" in self.flags else list(old_c.get("volumeMounts", []))
        for value in self.flags.get("--add-volume", []):
            v = parse_dict("--add-volume", value)
            assert v.pop("type") == "cloud-storage", v
            gcs = {"bucket": v["bucket"], "readOnly": v.get("readonly", "false").lower() == "true"}
            if "mount-options" in v:
                gcs["mountOptions"] = re.split(r";", v["mount-options"])
            volumes.append({"name": v["name"], "gcs": gcs})
        for value in self.flags.get("--add-volume-mount", []):
            m = parse_dict("--add-volume-mount", value)
            mounts.append({"name": m["volume"], "mountPath": m["mount-path"]})
        return volumes, mounts

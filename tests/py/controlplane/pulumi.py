"""A generated Pulumi program replayed as `pulumi up` / `destroy` would run it.

The registrations of a mocked run (pulumi_harness.run_program) are the desired state: each
resource's inputs, and its dependencies, explicit and through the Outputs that fed it. The
program's lookups (provider functions) run before any step, against the cloud: one that finds
nothing fails the program, so nothing is created. The engine keeps the stack's state between runs.
"""

import json

from pulumi_harness import DOCKER_IMAGE, _docker_image

from controlplane import builds, provider
from controlplane.engine import Engine, Node, Outcome
from controlplane.project import NotModelled, Rejected

# What each lookup reads, as a resource name (None: always there, e.g. the project itself).
LOOKUPS = {
    "gcp:organizations/getProject:getProject": lambda a: None,
    "gcp:artifactregistry/getRepository:getRepository":
        lambda a: f"projects/{a['project']}/locations/{a['location']}/repositories/{a['repositoryId']}",
    "gcp:secretmanager/getSecret:getSecret": lambda a: f"projects/{a['project']}/secrets/{a['secretId']}",
    "gcp:storage/getBucket:getBucket": lambda a: f"b/{a['name']}",
    "gcp:storage/getManagedFolderIamPolicy:getManagedFolderIamPolicy":
        lambda a: f"b/{a['bucket']}/managedFolders/{a['managedFolder']}",
}
QUOTA = "gcp:cloudquota/getSQuotaInfo:getSQuotaInfo"
BUILD = "command:local:Command"
# The mocks answer getProject with this placeholder for the number (pulumi_harness._lookup).
NUMBER_PLACEHOLDER = "PROJECT_NUMBER"


def key(r):
    return f"{r['type']}::{r['name']}"


class Pulumi:
    def __init__(self, cloud):
        self.cloud = cloud
        self.engine = Engine(cloud, continue_on_error=False)

    def lookups(self, recorded):
        """Runs the program's lookups; raises Rejected for the first that finds nothing."""
        for call in recorded["calls"]:
            if call["token"] == DOCKER_IMAGE:  # read when what it waits for is done: see plan
                continue
            if call["token"] == QUOTA:
                self._quota(recorded)
                continue
            if call["token"] not in LOOKUPS:
                raise NotModelled(f"the control plane does not answer the lookup {call['token']}")
            name = LOOKUPS[call["token"]](call["args"])
            if name is not None and not self.cloud.holds(name):
                raise Rejected(f"{call['token']}: {name} not found (the program stops before any step)")

    def _quota(self, recorded):
        """The program's GPU quota check, answered by the cloud: less quota in the service's
        region than the GPUs an instance takes, and the program stops before any step."""
        [service] = [r["inputs"] for r in recorded["resources"] if provider.PULUMI.get(r["type"]) == "service"]
        gpus = int(service["template"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"])
        if self.cloud.gpu_quota.get(service["location"], 0) < gpus:
            raise Rejected(f"{QUOTA}: the GPU quota in {service['location']} is below {gpus} "
                           "(the program stops before any step)")

    def plan(self, recorded):
        nodes = {}
        for r in recorded["resources"]:
            if r["type"] == BUILD:
                i = r["inputs"]
                res = builds.from_command(i["create"], i["dir"], i.get("environment", {}), i.get("triggers"))
                nodes[key(r)] = Node(key(r), res, set(r["depends_on"]))
        answers = self._images(recorded, [n.res for k, n in nodes.items() if self.engine.step(k, n)])
        for r in recorded["resources"]:
            if r["type"] == BUILD:
                continue
            kind = provider.kind_of(provider.PULUMI, r["type"])
            text = json.dumps(r["inputs"]).replace(NUMBER_PLACEHOLDER, self.cloud.number)
            for mocked, link in answers.items():
                text = text.replace(mocked, link)
            nodes[key(r)] = Node(key(r), provider.resource(kind, json.loads(text)), set(r["depends_on"]),
                                 r.get("protect", False))
        return nodes

    def _images(self, recorded, builds_first):
        """{the mocks' answer: the cloud's} for each getDockerImage: the digest the build of
        this run pushes, else the registry's now."""
        answers = {}
        for call in recorded["calls"]:
            if call["token"] == DOCKER_IMAGE:
                a = call["args"]
                name, _, tag = a["imageName"].partition(":")
                image = f"{builds.image_path(a['location'], a['project'], a['repositoryId'], name)}:{tag}"
                answers[_docker_image(a)["selfLink"]] = builds.read_image(self.cloud, image, builds_first)
        return answers

    def up(self, recorded):
        """`pulumi up`."""
        try:
            self.lookups(recorded)
            nodes = self.plan(recorded)
        except Rejected as e:  # the provider's check of the inputs, before any step
            return Outcome(errors=[str(e)])
        return self.engine.apply(nodes)

    def destroy(self):
        return self.engine.destroy()

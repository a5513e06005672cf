"""A generated Pulumi program replayed as `pulumi up` / `destroy` would run it.

The registrations of a mocked run (pulumi_harness.run_program) are the desired state: each
resource's inputs, and its dependencies, explicit and through the Outputs that fed it. The
program's lookups (provider functions) run before any step, against the cloud: one that finds
nothing fails the program, so nothing is created. The engine keeps the stack's state between runs.
"""

import json

from controlplane import provider
from controlplane.engine import Engine, Node, Outcome
from controlplane.project import NotModelled, Rejected

# What each lookup reads, as a resource name (None: always there, e.g. the project itself).
LOOKUPS = {
    "gcp:organizations/getProject:getProject": lambda a: None,
    "gcp:secretmanager/getSecret:getSecret": lambda a: f"projects/{a['project']}/secrets/{a['secretId']}",
    "gcp:storage/getBucket:getBucket": lambda a: f"b/{a['name']}",
    "gcp:storage/getManagedFolderIamPolicy:getManagedFolderIamPolicy":
        lambda a: f"b/{a['bucket']}/managedFolders/{a['managedFolder']}",
}
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
            if call["token"] not in LOOKUPS:
                raise NotModelled(f"the control plane does not answer the lookup {call['token']}")
            name = LOOKUPS[call["token"]](call["args"])
            if name is not None and not self.cloud.holds(name):
                raise Rejected(f"{call['token']}: {name} not found (the program stops before any step)")

    def plan(self, recorded, only=None):
        nodes = {}
        for r in recorded["resources"]:
            kind = provider.kind_of(provider.PULUMI, r["type"])
            inputs = json.loads(json.dumps(r["inputs"]).replace(NUMBER_PLACEHOLDER, self.cloud.number))
            nodes[key(r)] = Node(key(r), provider.resource(kind, inputs), set(r["depends_on"]),
                                 r.get("protect", False))
        if only is not None:
            keep = set()
            for k in nodes:
                if k in only:
                    keep |= {k} | set(Engine.ancestors(nodes, k))
            nodes = {k: n for k, n in nodes.items() if k in keep}
            nodes.update({k: n for k, n in self.engine.state.items() if k not in nodes})
        return nodes

    def up(self, recorded, only=None):
        """`pulumi up` (with `--target` URNs when only is given)."""
        try:
            self.lookups(recorded)
            nodes = self.plan(recorded, only)
        except Rejected as e:  # the provider's check of the inputs, before any step
            return Outcome(errors=[str(e)])
        return self.engine.apply(nodes)

    def destroy(self):
        return self.engine.destroy()

"""A generated Pulumi program replayed as `pulumi up` / `destroy` would run it.

The registrations of a mocked run (pulumi_harness.run_program) are the desired state: each
resource's inputs, and its dependencies, explicit and through the Outputs that fed it. The
engine keeps the stack's state between runs.
"""

from controlplane import provider
from controlplane.engine import Engine, Node, Outcome
from controlplane.project import Rejected


def key(r):
    return f"{r['type']}::{r['name']}"


class Pulumi:
    def __init__(self, cloud):
        self.cloud = cloud
        self.engine = Engine(cloud, continue_on_error=False)

    def plan(self, recorded, only=None):
        nodes = {}
        for r in recorded["resources"]:
            kind = provider.kind_of(provider.PULUMI, r["type"])
            nodes[key(r)] = Node(key(r), provider.resource(kind, r["inputs"]), set(r["depends_on"]),
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
            nodes = self.plan(recorded, only)
        except Rejected as e:  # the provider's check of the inputs, before any step
            return Outcome(errors=[str(e)])
        return self.engine.apply(nodes)

    def destroy(self):
        return self.engine.destroy()

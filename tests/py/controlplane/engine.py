"""How Terraform and Pulumi act on a cloud: plan against their previous state, then apply.

A node is one resource of the configuration with the keys of the nodes it depends on. Apply
runs in waves, as both engines do in parallel: a node starts once everything it depends on is
done, and is checked against what it is guaranteed to see, the state before the run plus its
own dependencies, never against a sibling that merely happened to finish first. A node
whose dependency failed is skipped; Terraform goes on with the rest of the graph, Pulumi
stops launching steps after the first failure. Destroy runs the same waves in reverse.
"""

from dataclasses import dataclass, field

from controlplane.project import Rejected


@dataclass
class Node:
    key: str
    res: object  # project.Res
    deps: set = field(default_factory=set)
    protect: bool = False  # Terraform prevent_destroy, Pulumi protect


@dataclass
class Outcome:
    errors: list = field(default_factory=list)
    changed: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors


class Engine:
    def __init__(self, cloud, continue_on_error):
        self.cloud = cloud
        self.continue_on_error = continue_on_error
        self.state = {}  # key -> Node as last applied

    def apply(self, nodes):
        """Creates, updates and replaces toward `nodes`, then deletes what left the configuration."""
        out = Outcome()
        steps = {}
        for key, node in nodes.items():
            step = self.step(key, node)
            if step:
                steps[key] = step
        self._waves(nodes, steps, out, forward=True)
        if out.ok or self.continue_on_error:
            gone = {k: n for k, n in self.state.items() if k not in nodes}
            self._waves(gone, {k: "delete" for k in gone}, out, forward=False)
        return out

    def step(self, key, node):
        """What apply does to node: create, replace, update, or None (nothing changed)."""
        old = self.state.get(key)
        if old is None:
            return "create"
        if old.res != node.res:  # another name: a binding's every field, an account id
            return "replace"
        return "update" if old.res.attrs != node.res.attrs else None

    def destroy(self):
        out = Outcome()
        protected = sorted(k for k, n in self.state.items() if n.protect)
        if protected:
            out.errors.append(f"refusing to destroy protected resources: {', '.join(protected)}")
            return out
        self._waves(dict(self.state), {k: "delete" for k in self.state}, out, forward=False)
        return out

    def _waves(self, nodes, steps, out, forward):
        base = self.cloud.copy()
        pending, done, failed = set(steps), [], set()
        while pending:
            if forward:
                blockers = {k: {d for d in nodes[k].deps if d in steps} for k in pending}
            else:  # a node goes after every node that depends on it
                blockers = {k: {o for o in steps if k in nodes[o].deps} for k in pending}
            skipped = {k for k in pending if blockers[k] & failed}
            failed |= skipped
            pending -= skipped
            ready = sorted(k for k in pending if blockers[k] <= set(done))
            if not ready:
                break
            for key in ready:
                pending.discard(key)
                try:
                    self._step(nodes, key, steps[key], base, done, forward)
                    done.append(key)
                    out.changed.append((steps[key], key))
                except Rejected as e:
                    failed.add(key)
                    out.errors.append(f"{key}: {e}")
            if failed and not self.continue_on_error:
                break

    def _step(self, nodes, key, step, base, done, forward):
        node = nodes[key]
        if not forward:
            self.cloud.apply(node.res, "delete")
            self.state.pop(key, None)
            return
        view = base.copy()
        ancestors = self.ancestors(nodes, key)
        for a in done:  # in the order they ran
            if a in ancestors:
                self._effect(view, nodes[a], a, check=False)
        self._effect(view, node, key, check=True)
        self._effect(self.cloud, node, key, check=False)
        self.state[key] = node

    def _effect(self, cloud, node, key, check):
        old = self.state.get(key)
        if old is not None and old.res != node.res:
            cloud.apply(old.res, "delete", check=False)
            old = None
        cloud.apply(node.res, "create" if old is None else "update", check=check)

    @staticmethod
    def ancestors(nodes, key):
        """Every node that key depends on, directly or not."""
        seen, stack = [], list(nodes[key].deps)
        while stack:
            k = stack.pop()
            if k in nodes and k not in seen:
                seen.append(k)
                stack.extend(nodes[k].deps)
        return seen

"""A generated Terraform folder replayed as `terraform apply` / `destroy` would run it.

The graph comes from the configuration itself: every reference (`type.name.attr`,
`data.type.name.attr`, `var.x`, `each.value`) and every `depends_on` is an edge. Values are
resolved in dependency order, computed attributes as the provider computes them; data
sources are read at plan time, so a failing one fails before anything is created.
Anything the replay cannot evaluate is an error (NotModelled), never a guess.
"""

import re

from tf_validate import (
    BLOCK,
    hcl_string,
    is_expression,
    is_string_literal,
    load_dir,
    unquote,
)

from controlplane import provider, service
from controlplane.engine import Engine, Node, Outcome
from controlplane.project import NotModelled, Rejected

REF = re.compile(r"\b(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_]\w*))?")
FILE = re.compile(r'file\("\$\{path\.module\}/([^"$]+)"\)')
META = {"depends_on", "lifecycle", "provider", "count", "for_each", "provisioner", "connection"}


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def is_block(v):
    return isinstance(v, list) and bool(v) and all(isinstance(b, dict) and b.get(BLOCK) for b in v)


class Config:
    """The parsed folder: resources, data sources and variables by address."""

    def __init__(self, tf_dir):
        parsed = load_dir(tf_dir)
        self.dir = tf_dir
        self.blocks = {}  # address -> (mode, type, body)
        self.vars = {}
        for doc in parsed.values():
            for mode in ("resource", "data"):
                for entry in doc.get(mode, []):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            prefix = "data." if mode == "data" else ""
                            self.blocks[f"{prefix}{unquote(rtype)}.{unquote(name)}"] = (mode, unquote(rtype), body)
            for entry in doc.get("variable", []):
                for name, body in entry.items():
                    self.vars[unquote(name)] = body
        self.deps = {a: self._refs(body) for a, (_, _, body) in self.blocks.items()}

    def _refs(self, body):
        found = set()
        for text in _expressions(body):
            for m in REF.finditer(text):
                address = f"{'data.' if m[1] else ''}{m[2]}.{m[3]}"
                if address in self.blocks:
                    found.add(address)
        return found

    def order(self):
        """Addresses in an order where each comes after everything it references."""
        out, seen = [], set()

        def visit(a, path):
            if a in seen:
                return
            if a in path:
                raise NotModelled(f"dependency cycle through {a}")
            for d in sorted(self.deps[a]):
                visit(d, path | {a})
            seen.add(a)
            out.append(a)

        for a in sorted(self.blocks):
            visit(a, set())
        return out


def _expressions(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _expressions(x)
    elif isinstance(v, list):
        for x in v:
            yield from _expressions(x)


class Evaluator:
    def __init__(self, config, computed, each=None):
        self.config = config
        self.computed = computed  # address -> {attr: value} (or {key: {attr: value}} for for_each)
        self.each = each

    def value(self, v):
        if isinstance(v, (bool, int, float)) or v is None:
            return v
        if isinstance(v, dict):
            return {unquote(k): self.value(x) for k, x in v.items() if not k.startswith("__")}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        m = FILE.fullmatch(v[2:-1]) if is_expression(v) else None
        if m:
            return (self.config.dir / m[1]).read_text()
        if is_expression(v) and v.count("${") == 1:
            return self.expr(v[2:-1].strip())
        if is_string_literal(v):
            text = v
            for m in re.finditer(r"(?<!\$)\$\{([^}]*)\}", v):
                text = text.replace(m[0], str(self.expr(m[1].strip())).replace("\\", "\\\\").replace('"', '\\"'))
            return hcl_string(text)
        raise NotModelled(f"cannot evaluate {v!r}")

    def expr(self, e):
        if e == "each.value" or e == "each.key":
            return self.each
        m = re.fullmatch(r"var\.(\w+)", e)
        if m:
            return self.value(self.config.vars[m[1]]["default"])
        m = re.fullmatch(r'toset\(\[(.*)\]\)', e, re.DOTALL)
        if m:
            return sorted({hcl_string(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', m[1])})
        m = REF.fullmatch(e)
        if m and m[4]:
            address = f"{'data.' if m[1] else ''}{m[2]}.{m[3]}"
            values = self.computed.get(address)
            if values is None:
                raise NotModelled(f"{address} is not known when {e} is read")
            attr = _camel(m[4])
            if attr not in values:
                raise NotModelled(f"{address} has no attribute {m[4]}")
            return values[attr]
        raise NotModelled(f"cannot evaluate ${{{e}}}")


class Terraform:
    """`terraform apply` and `destroy` of one folder's configuration against a cloud; the
    engine keeps the Terraform state between runs, so a second apply plans against the first."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.engine = Engine(cloud, continue_on_error=True)

    def plan(self, tf_dir):
        """Nodes by address (for_each instances as address[key]); raises Rejected when a data
        source cannot be read, before anything is created."""
        config = Config(tf_dir)
        computed, nodes, instances = {}, {}, {}
        for address in config.order():
            mode, rtype, body = config.blocks[address]
            if mode == "data":
                ev = Evaluator(config, computed)
                computed[address] = self._read(rtype, {_camel(k): ev.value(v) for k, v in _args(body).items()})
                continue
            kind = provider.kind_of(provider.TERRAFORM, rtype)
            keys = [None]
            if "for_each" in body:
                keys = Evaluator(config, computed).value(body["for_each"])
            deps = {i for d in config.deps[address] for i in instances.get(d, [])}
            instances[address] = []
            for key in keys:
                ev = Evaluator(config, computed, each=key)
                args = {_camel(k): ev.value(v) for k, v in _args(body).items()}
                if kind == "service":
                    args.update(service.from_terraform(
                        {k: v for k, v in body.items() if is_block(v)}, ev.value, is_block))
                computed[address] = provider.outputs(kind, args, self.cloud.number)
                inst = address if key is None else f'{address}["{key}"]'
                instances[address].append(inst)
                nodes[inst] = Node(inst, provider.resource(kind, args), deps, _prevent_destroy(body))
        return nodes

    def _read(self, rtype, args):
        cloud = self.cloud
        if rtype == "google_project":
            return {"number": cloud.number, "projectId": args.get("projectId", cloud.project)}
        if rtype == "google_secret_manager_secret":
            name = f"projects/{args.get('project', cloud.project)}/secrets/{args['secretId']}"
            if name not in cloud.secrets:
                raise Rejected(f"data.{rtype}: Secret {name} not found")
            return {**args, "id": name, "name": name}
        if rtype == "google_storage_bucket":
            if args["name"] not in cloud.buckets:
                raise Rejected(f"data.{rtype}: bucket {args['name']} not found")
            return {**args, "id": args["name"]}
        if rtype == "google_storage_managed_folder_iam_policy":
            name = f"b/{args['bucket']}/managedFolders/{args['managedFolder']}"
            if name not in cloud.folders:
                raise Rejected(f"data.{rtype}: managed folder {name} not found")
            return {**args, "id": name}
        raise NotModelled(f"the control plane does not read data.{rtype}")

    def apply(self, tf_dir, only=None):
        """`terraform apply` (with `-target` addresses when only is given)."""
        try:
            nodes = self.plan(tf_dir)
        except Rejected as e:
            return Outcome(errors=[str(e)])
        if only is not None:
            keep = set()
            for a in nodes:
                if any(a == o or a.startswith(o + "[") for o in only):
                    keep |= {a} | set(Engine.ancestors(nodes, a))
            nodes = {a: n for a, n in nodes.items() if a in keep}
            # -target leaves everything else in the state as it is.
            nodes.update({a: n for a, n in self.engine.state.items() if a not in nodes})
        return self.engine.apply(nodes)

    def destroy(self):
        return self.engine.destroy()


def _args(body):
    return {k: v for k, v in body.items() if k not in META and not k.startswith("__") and not is_block(v)}


def _prevent_destroy(body):
    for lc in body.get("lifecycle", []):
        if lc.get("prevent_destroy") is True:
            return True
    return False


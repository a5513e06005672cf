"""A generated Terraform folder replayed as `terraform apply` / `destroy` would run it.

The graph comes from the configuration itself: every reference (`type.name.attr`,
`data.type.name.attr`, `var.x`, `each.value`) and every `depends_on` is an edge. Values are
resolved in dependency order, computed attributes as the provider computes them; data
sources are read at plan time, so a failing one fails before anything is created.
Anything the replay cannot evaluate is an error (NotModelled), never a guess.
"""

import hashlib
import re
from pathlib import Path

from tf_validate import (
    BLOCK,
    hcl_string,
    is_expression,
    is_string_literal,
    load_dir,
    local_values,
    unquote,
)

from controlplane import builds, provider, service
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

    def __init__(self, tf_dir, variables=None):
        parsed = load_dir(tf_dir)
        self.dir = tf_dir
        self.values = dict(variables or {})  # `-var NAME=VALUE`
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
        self.locals = local_values(parsed)
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


def _image_files(ev):
    out = []
    for f in ev.expr("local.image_inputs"):
        if f.endswith("/"):
            root = Path(ev.expr("local.build_context"))
            out += sorted(p.relative_to(root).as_posix() for p in (root / f).rglob("*") if p.is_file())
        else:
            out.append(f)
    return out


def _content_tag(ev):
    root = Path(ev.expr("local.build_context"))
    digests = "".join(hashlib.sha256((root / f).read_bytes()).hexdigest() for f in ev.expr("local.image_files"))
    return hashlib.sha256(digests.encode()).hexdigest()


# Expressions of Terraform functions the evaluator does not parse, by their exact text, with
# what Terraform computes for them: the image's files and their content tag.
FUNCTIONS = {
    'flatten([for f in local.image_inputs : endswith(f, "/") ? sort(fileset(local.build_context, "${f}**")) : [f]])':
        _image_files,
    'sha256(join("", [for f in local.image_files : filesha256("${local.build_context}/${f}")]))': _content_tag,
}


# Terraform functions the generated files call on values the evaluator knows.
CALLS = {
    "sha256": lambda text: hashlib.sha256(text.encode()).hexdigest(),
    "substr": lambda text, offset, length: text[offset:offset + length],
    "coalesce": lambda *values: next(v for v in values if v not in (None, "")),
    "lookup": lambda mapping, key: mapping[str(key)],
}
CALL = re.compile(r"(\w+)\((.*)\)", re.DOTALL)


# A string literal (escapes included) or a bracket or comma outside one.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[()\[\]{},]')


def arguments(text):
    """A call's arguments, split at its own commas (not those inside strings or brackets)."""
    out, depth, start = [], 0, 0
    for m in _TOKEN.finditer(text):
        c = m[0]
        if c in ("(", "[", "{"):
            depth += 1
        elif c in (")", "]", "}"):
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:m.start()].strip())
            start = m.end()
    return [*out, text[start:].strip()]


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
        if is_expression(v) and v[2:-1].strip() in FUNCTIONS:
            return FUNCTIONS[v[2:-1].strip()](self)
        m = FILE.fullmatch(v[2:-1]) if is_expression(v) else None
        if m:
            return (self.config.dir / m[1]).read_text()
        if is_expression(v) and (v.count("${") == 1 or CALL.fullmatch(v[2:-1].strip())):
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
        if e == "path.module":
            return str(self.config.dir)
        m = re.fullmatch(r"local\.(\w+)", e)
        if m:
            return self.value(self.config.locals[m[1]])
        m = re.fullmatch(r"var\.(\w+)", e)
        if m:
            if m[1] in self.config.values:
                return self.config.values[m[1]]
            return self.value(self.config.vars[m[1]]["default"])
        m = CALL.fullmatch(e)
        if m and m[1] in CALLS:
            return CALLS[m[1]](*(self._argument(a) for a in arguments(m[2])))
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

    def _argument(self, a):
        if re.fullmatch(r"\d+", a):
            return int(a)
        return self.value(a) if is_string_literal(a) else self.expr(a)


class Terraform:
    """`terraform apply` and `destroy` of one folder's configuration against a cloud; the
    engine keeps the Terraform state between runs, so a second apply plans against the first."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.engine = Engine(cloud, continue_on_error=True)

    def plan(self, tf_dir, variables=None):
        """Nodes by address (for_each instances as address[key]); raises Rejected when a data
        source cannot be read, before anything is created."""
        config = Config(tf_dir, variables)
        computed, nodes, instances = {}, {}, {}
        for address in config.order():
            mode, rtype, body = config.blocks[address]
            deps = {i for d in config.deps[address] for i in instances.get(d, [])}
            if mode == "data":
                ev = Evaluator(config, computed)
                builds_first = [nodes[i].res for i in deps if nodes[i].res.kind == "build" and self.engine.step(i, nodes[i])]
                computed[address] = self._read(rtype, {_camel(k): ev.value(v) for k, v in _args(body).items()},
                                               builds_first)
                _postconditions(body, computed[address], Evaluator(config, computed))
                instances[address] = sorted(deps)  # what uses the read waits for what it waited for
                continue
            if rtype == "terraform_data":
                nodes[address] = Node(address, _local_exec(body, Evaluator(config, computed)), deps)
                instances[address], computed[address] = [address], {}
                continue
            kind = provider.kind_of(provider.TERRAFORM, rtype)
            keys = [None]
            if "for_each" in body:
                keys = Evaluator(config, computed).value(body["for_each"])
            instances[address] = []
            for key in keys:
                ev = Evaluator(config, computed, each=key)
                args = {_camel(k): ev.value(v) for k, v in _args(body).items()}
                if kind == "service":
                    args.update(service.from_terraform(
                        {k: v for k, v in body.items() if is_block(v)}, ev.value, is_block))
                if kind in ("trigger", "bucket"):
                    args.update(_nested(body, ev.value))
                computed[address] = provider.outputs(kind, args, self.cloud.number)
                inst = address if key is None else f'{address}["{key}"]'
                instances[address].append(inst)
                nodes[inst] = Node(inst, provider.resource(kind, args), deps, _prevent_destroy(body))
        return nodes

    def _read(self, rtype, args, builds_first):
        """A data source's values; `builds_first` are the builds of this run it waits for."""
        cloud = self.cloud
        if rtype == "google_artifact_registry_docker_image":
            name, _, tag = args["imageName"].partition(":")
            image = f"{builds.image_path(args['location'], args['project'], args['repositoryId'], name)}:{tag}"
            link = builds.read_image(cloud, image, builds_first)
            return {**args, "selfLink": link, "name": link}
        if rtype == "google_artifact_registry_repository":
            name = f"projects/{args.get('project', cloud.project)}/locations/{args['location']}/repositories/{args['repositoryId']}"
            if name not in cloud.repositories:
                raise Rejected(f"data.{rtype}: {name} not found")
            return {**args, "id": name, "name": args["repositoryId"]}
        if rtype == "google_cloud_quotas_quota_info":
            infos = [{"dimensions": {"region": r}, "details": [{"value": str(n)}], "applicableLocations": [r]}
                     for r, n in sorted(cloud.gpu_quota.items())]
            return {**args, "dimensionsInfos": infos}
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

    def apply(self, tf_dir, variables=None):
        """`terraform apply`, with `-var NAME=VALUE` for each of `variables`."""
        try:
            nodes = self.plan(tf_dir, variables)
        except Rejected as e:
            return Outcome(errors=[str(e)])
        return self.engine.apply(nodes)

    def destroy(self):
        return self.engine.destroy()


def _args(body):
    return {k: v for k, v in body.items() if k not in META and not k.startswith("__") and not is_block(v)}


def _nested(body, value):
    """A resource's nested blocks as the API's objects: each block a camelCase message, its
    own blocks within (one block of a kind is one object, as in google_cloudbuild_trigger)."""
    out = {}
    for k, blocks in body.items():
        if is_block(blocks):
            if len(blocks) != 1:
                raise NotModelled(f"{len(blocks)} `{k}` blocks")
            out[_camel(k)] = {**{_camel(a): value(v) for a, v in _args(blocks[0]).items()}, **_nested(blocks[0], value)}
    return out


def _local_exec(body, ev):
    """The image build a terraform_data's local-exec provisioner runs, at create and on every
    change of triggers_replace."""
    (provisioner,) = body.get("provisioner", [])
    (run,) = [v for k, v in provisioner.items() if unquote(k) == "local-exec"]
    return builds.from_command(ev.value(run["command"]), ev.value(run["working_dir"]),
                               ev.value(run.get("environment", {})), ev.value(body["triggers_replace"]))


# The postconditions the configuration states, by shape: what Terraform computes for each.
QUOTA_CONDITION = re.compile(
    r"anytrue\(\[for i in self\.dimensions_infos : contains\(i\.applicable_locations, (var\.\w+)\) && "
    r'\(i\.details\[0\]\.value == "-1" \|\| tonumber\(i\.details\[0\]\.value\) >= (\d+)\)\]\)')


def _postconditions(body, values, ev):
    """A data source's postconditions, checked once it is read, as at plan time: a false one
    stops the plan with its error message."""
    for lc in body.get("lifecycle", []):
        for post in lc.get("postcondition", []):
            text = post["condition"][2:-1].strip()
            m = QUOTA_CONDITION.fullmatch(text)
            if m is None:
                raise NotModelled(f"the control plane does not evaluate the postcondition {text}")
            region, needed = ev.expr(m[1]), int(m[2])
            if not any(region in i["applicableLocations"] and
                       (i["details"][0]["value"] == "-1" or int(i["details"][0]["value"]) >= needed)
                       for i in values["dimensionsInfos"]):
                raise Rejected(f"Resource postcondition failed: {ev.value(post['error_message'])}")


def _prevent_destroy(body):
    for lc in body.get("lifecycle", []):
        if lc.get("prevent_destroy") is True:
            return True
    return False


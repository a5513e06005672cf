"""Offline checks of a generated Terraform folder against the google provider's schema.

`terraform validate` needs the provider binary, which `terraform init` cannot download
offline, so this does what it would check for mlgen's output, from the schema that
tools/tf_schema/extract.py took from the provider's published bindings
(tests/data/google-provider-schema.json):

- every resource type and data source exists in the pinned provider version, or is
  `terraform_data`, built into Terraform (its schema and the local-exec provisioner's are
  below, from Terraform's documentation);
- every argument and nested block exists, blocks are written as blocks and attributes as
  attributes, single blocks appear once, and required arguments and blocks are present;
- every reference resolves: `var.x` to a declared variable, `local.x` to a declared local,
  `google_x.name.attr` (or `data.google_x.name.attr`) to a declared resource (data source)
  and an attribute that type exports, `each.*` only under `for_each`, and a `for_each`
  resource only with an index.

`validate(tf_dir)` returns a list of problems, each naming the file and the path in it.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "data" / "google-provider-schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())

BLOCK = "__is_block__"
META = set(SCHEMA["meta_arguments"])
# Roots of references that are not resources.
BUILTIN_ROOTS = {"path", "terraform", "self"}


def _arg(tf_type, required=False):
    return {"type": tf_type, "required": required}


# Built into Terraform, not the provider: terraform_data
# (developer.hashicorp.com/terraform/language/resources/terraform-data) and the arguments of
# the one provisioner mlgen uses, local-exec (.../resources/provisioners/local-exec).
TERRAFORM_DATA = {
    "block": {"attributes": {"input": _arg("any"), "triggers_replace": _arg("any")}, "blocks": {}},
    "exported_attributes": ["id", "input", "output", "triggers_replace"],
}
PROVISIONERS = {
    "local-exec": {
        "attributes": {
            "command": _arg("string", required=True),
            "working_dir": _arg("string"),
            "interpreter": _arg("list(string)"),
            "environment": _arg("map(string)"),
            "when": _arg("any"),
            "on_failure": _arg("any"),
            "quiet": _arg("bool"),
        },
        "blocks": {},
    },
}
RESOURCE_TYPES = {**SCHEMA["resource_types"], "terraform_data": TERRAFORM_DATA}
DATA_SOURCE_TYPES = SCHEMA["data_sources"]


def terraform_bin():
    path = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if not path:
        raise AssertionError("terraform is not installed (set TERRAFORM to its path)")
    return path


def fmt_check(tf_dir):
    """Runs `terraform fmt -check -diff`; returns (ok, output)."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1")
    proc = subprocess.run(
        [terraform_bin(), "fmt", "-check", "-diff", "-recursive", "-no-color", str(tf_dir)],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


def unquote(label):
    """A block label or map key as python-hcl2 returns it (`"name"`), without quotes."""
    if len(label) >= 2 and label[0] == label[-1] == '"':
        return hcl_string(label)
    return label


def is_string_literal(v):
    return isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"'


def is_expression(v):
    return isinstance(v, str) and v.startswith("${") and v.endswith("}")


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def hcl_string(lit):
    """The value of a quoted HCL string literal without interpolations."""
    body = lit[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            if n == "U":
                out.append(chr(int(body[i + 2:i + 10], 16)))
                i += 10
                continue
            out.append(_ESCAPES[n])
            i += 2
        elif c in "$%" and body[i + 1:i + 3] == c + "{":
            out.append(c + "{")  # `$${` is a literal `${`
            i += 3
        elif c in "$%" and body[i + 1:i + 2] == "{":
            raise ValueError(f"template sequence in {lit!r}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _lark_safe(text):
    """The same HCL with `$${` and `%%{` written as `\\u0024{` and `\\u0025{`.

    Both spell a literal `${` / `%{`, but python-hcl2 8.1.4's grammar rejects `%%{` and,
    in some contexts, `$${` (e.g. `"$${#"`), although Terraform accepts them (`terraform fmt`
    parses every generated file, and test_parity evaluates such strings with `terraform
    console`). Only the spelling changes, not the value."""
    return text.replace("$${", "\\u0024{").replace("%%{", "\\u0025{")


def load_dir(tf_dir):
    """{file name: parsed dict} for every .tf file in tf_dir."""
    return {p.name: hcl2.loads(_lark_safe(p.read_text())) for p in sorted(Path(tf_dir).glob("*.tf"))}


def resources(parsed):
    """[(file, type, name, body)] for every resource block."""
    out = []
    for fname, doc in parsed.items():
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    out.append((fname, unquote(rtype), unquote(name), body))
    return out


def data_sources(parsed):
    """[(file, type, name, body)] for every data block."""
    return [
        (fname, unquote(dtype), unquote(name), body)
        for fname, doc in parsed.items()
        for entry in doc.get("data", [])
        for dtype, named in entry.items()
        for name, body in named.items()
    ]


def local_values(parsed):
    """{name: expression} of every local value."""
    return {
        k: v
        for doc in parsed.values()
        for block in doc.get("locals", [])
        for k, v in block.items()
        if k not in (BLOCK, "__comments__")
    }


def variables(parsed):
    """{name: body} of every variable."""
    return {unquote(n): b for doc in parsed.values() for e in doc.get("variable", []) for n, b in e.items()}


# --- references -------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_TRAVERSAL = re.compile(r"(?<![\w.\]])([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*|\[[^\]]*\])*)")


def _interpolations(lit):
    """The expressions inside `${...}` of a string literal (not `$${`)."""
    out, i = [], 0
    while True:
        i = lit.find("${", i)
        if i < 0:
            return out
        if i > 0 and lit[i - 1] == "$":
            i += 2
            continue
        depth, j = 0, i + 1
        while j < len(lit):
            depth += {"{": 1, "}": -1}.get(lit[j], 0)
            if depth == 0:
                break
            j += 1
        out.append(lit[i + 2:j])
        i = j


def expressions(value):
    """Every expression text in a value as python-hcl2 returns it."""
    if isinstance(value, dict):
        return [e for k, v in value.items() if k != BLOCK for e in expressions(k) + expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    if is_expression(value):
        return [value[2:-1]]
    if is_string_literal(value):
        return _interpolations(value)
    return []


def references(expr):
    """[(root, [steps])] for each traversal in an expression; steps are `.attr` or `[i]`."""
    refs = []
    for lit in _STRING.findall(expr):
        for inner in _interpolations(lit):
            refs.extend(references(inner))
    bare = _STRING.sub('""', expr)
    # The symbols a `for` expression binds are its own, not references.
    bound = {name for m in re.finditer(r"\bfor\s+(\w+)(?:\s*,\s*(\w+))?\s+in\b", bare) for name in m.groups() if name}
    for m in _TRAVERSAL.finditer(bare):
        end = m.end()
        if end < len(bare) and bare[end] == "(":
            continue  # a function call
        root, rest = m.group(1), m.group(2)
        if root in ("true", "false", "null") or root in bound or not rest:
            continue
        steps = re.findall(r"\.[A-Za-z_][\w-]*|\[[^\]]*\]", rest)
        refs.append((root, steps))
    return refs


# --- validation -------------------------------------------------------------------------


def _type_ok(tf_type, value):
    """Loose check of a literal against the schema's type; expressions always pass."""
    if is_expression(value):
        return True
    if tf_type == "bool":
        return isinstance(value, bool)
    if tf_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tf_type == "string":
        return is_string_literal(value)
    if tf_type.startswith("map("):
        return isinstance(value, dict) and BLOCK not in value
    if tf_type.startswith("list("):
        return isinstance(value, list) and not any(isinstance(v, dict) and BLOCK in v for v in value)
    return True


def _is_block_value(value):
    return isinstance(value, list) and value and all(isinstance(v, dict) and v.get(BLOCK) for v in value)


def check_block(body, schema, where, problems, top_level=False):
    """Checks one block body against its schema; appends problems."""
    attrs, blocks = schema["attributes"], schema["blocks"]
    for key, value in body.items():
        if key in (BLOCK, "__comments__"):
            continue
        path = f"{where}.{key}"
        if top_level and key in META:
            continue
        if _is_block_value(value):
            if key in attrs:
                problems.append(f"{path}: `{key}` is an attribute, written as a block (use `{key} = ...`)")
            elif key not in blocks:
                problems.append(f"{path}: unknown block `{key}`")
            else:
                nested = blocks[key]
                if nested["nesting"] == "single" and len(value) > 1:
                    problems.append(f"{path}: at most one `{key}` block, found {len(value)}")
                for i, item in enumerate(value):
                    check_block(item, nested["block"], f"{path}[{i}]", problems)
        else:
            if key in blocks:
                problems.append(f"{path}: `{key}` is a block, written as an attribute (drop the `=`)")
            elif key not in attrs:
                problems.append(f"{path}: unknown argument `{key}`")
            elif not _type_ok(attrs[key]["type"], value):
                problems.append(f"{path}: expected {attrs[key]['type']}, found {value!r}")
    for key, a in attrs.items():
        if a["required"] and key not in body:
            problems.append(f"{where}: missing required argument `{key}`")
    for key, b in blocks.items():
        if b["required"] and key not in body:
            problems.append(f"{where}: missing required block `{key}`")


def _check_reference(root, steps, where, declared, var_names, in_for_each, problems):
    text = root + "".join(steps)
    if root == "var":
        if not steps or steps[0][1:] not in var_names:
            problems.append(f"{where}: `{text}` names no declared variable")
    elif root == "local":
        if not steps or steps[0][1:] not in declared.locals:
            problems.append(f"{where}: `{text}` names no declared local value")
    elif root == "data":
        if len(steps) < 2 or (steps[0][1:], steps[1][1:]) not in declared.data:
            problems.append(f"{where}: `{text}` names no declared data source")
        elif len(steps) > 2 and steps[2][1:] not in DATA_SOURCE_TYPES[steps[0][1:]]["exported_attributes"]:
            problems.append(f"{where}: `{text}`: data source {steps[0][1:]} has no attribute `{steps[2][1:]}`")
    elif root == "each":
        if not in_for_each:
            problems.append(f"{where}: `{text}` outside a for_each resource")
        elif not steps or steps[0] not in (".key", ".value"):
            problems.append(f"{where}: `{text}`: each has only .key and .value")
    elif root in ("module", "count"):
        problems.append(f"{where}: `{text}`: mlgen declares no {root} values")
    elif root in BUILTIN_ROOTS:
        pass
    else:
        if not steps or not steps[0].startswith("."):
            problems.append(f"{where}: `{text}` is not a reference to a resource")
            return
        name = steps[0][1:]
        if (root, name) not in declared:
            problems.append(f"{where}: `{root}.{name}` is not declared")
            return
        rest = steps[1:]
        if declared[(root, name)]:  # for_each/count: an instance needs an index
            if rest and not rest[0].startswith("["):
                problems.append(f"{where}: `{text}`: `{root}.{name}` has for_each, index it first")
                return
            rest = rest[1:]
        if rest and root in RESOURCE_TYPES:
            attr = rest[0][1:]
            if attr not in RESOURCE_TYPES[root]["exported_attributes"]:
                problems.append(f"{where}: `{text}`: {root} has no attribute `{attr}`")


class Declared(dict):
    """Declared resources ({(type, name): has for_each/count}), data sources and locals."""

    locals: dict
    data: set


def _check_provisioners(provisioners, where, problems):
    for entry in provisioners:
        for kind, body in entry.items():
            kind = unquote(kind)
            if kind not in PROVISIONERS:
                problems.append(f"{where}: provisioner {kind!r} is not one mlgen uses")
                continue
            check_block(body, PROVISIONERS[kind], f"{where}.provisioner.{kind}", problems)


def validate(tf_dir):
    """Every problem found in the .tf files of tf_dir (empty when valid)."""
    problems = []
    parsed = load_dir(tf_dir)
    if not parsed:
        return [f"{tf_dir}: no .tf files"]
    res = resources(parsed)
    data = data_sources(parsed)
    var_names = set(variables(parsed))
    declared = Declared()
    declared.locals = local_values(parsed)
    declared.data = set()
    for fname, dtype, name, _ in data:
        if (dtype, name) in declared.data:
            problems.append(f"{fname}: data source {dtype}.{name} declared twice")
        declared.data.add((dtype, name))
    for fname, rtype, name, body in res:
        if (rtype, name) in declared:
            problems.append(f"{fname}: resource {rtype}.{name} declared twice")
        declared[(rtype, name)] = "for_each" in body or "count" in body

    for fname, doc in parsed.items():
        allowed = {"terraform", "provider", "variable", "output", "resource", "data", "locals", "__comments__"}
        for key in doc:
            if key not in allowed:
                problems.append(f"{fname}: unexpected top-level `{key}`")
        for entry in doc.get("provider", []):
            for pname, body in entry.items():
                if unquote(pname) != "google":
                    problems.append(f"{fname}: provider {pname} is not google")
                    continue
                check_block({k: v for k, v in body.items() if k != "alias"},
                            SCHEMA["provider_block"], f"{fname}: provider.google", problems)
        for tf in doc.get("terraform", []):
            for rp in tf.get("required_providers", []):
                google = rp.get("google")
                if google is None:
                    problems.append(f"{fname}: required_providers has no google entry")
                    continue
                want = SCHEMA["provider"]
                if unquote(google.get("source", "")) != want["source"]:
                    problems.append(f"{fname}: google source is not {want['source']}")
                if unquote(google.get("version", "")) != want["version"]:
                    problems.append(f"{fname}: google is not pinned to {want['version']}, the schema checked against")
        for entry in doc.get("variable", []):
            for vname, body in entry.items():
                for key in body:
                    if key not in ("description", "type", "default", "sensitive", "nullable", "validation", BLOCK):
                        problems.append(f"{fname}: variable.{unquote(vname)}: unexpected `{key}`")
                for rule in body.get("validation", []):
                    if set(rule) - {BLOCK} != {"condition", "error_message"}:
                        problems.append(f"{fname}: variable.{unquote(vname)}: a validation takes "
                                        "`condition` and `error_message`")
        for entry in doc.get("output", []):
            for oname, body in entry.items():
                where = f"{fname}: output.{unquote(oname)}"
                if "value" not in body:
                    problems.append(f"{where}: missing value")
                for key in body:
                    if key not in ("description", "value", "sensitive", BLOCK):
                        problems.append(f"{where}: unexpected `{key}`")
                for expr in expressions(body):
                    for root, steps in references(expr):
                        _check_reference(root, steps, where, declared, var_names, False, problems)
        for pentry in doc.get("provider", []):
            for body in pentry.values():
                for expr in expressions(body):
                    for root, steps in references(expr):
                        _check_reference(root, steps, f"{fname}: provider", declared, var_names, False, problems)

    for name, value in declared.locals.items():
        for expr in expressions(value):
            for root, steps in references(expr):
                _check_reference(root, steps, f"locals.{name}", declared, var_names, False, problems)
    blocks = [(f, t, n, b, RESOURCE_TYPES, "resource type", "emits") for f, t, n, b in res]
    blocks += [(f, t, n, b, DATA_SOURCE_TYPES, "data source", "reads") for f, t, n, b in data]
    for fname, rtype, name, body, types, kind, verb in blocks:
        where = f"{fname}: {rtype}.{name}"
        if rtype not in types:
            problems.append(f"{where}: {kind} {rtype} is not one mlgen {verb} or not in google {SCHEMA['provider']['version']}")
            continue
        check_block({k: v for k, v in body.items() if k != "provisioner"}, types[rtype]["block"], where, problems,
                    top_level=True)
        _check_provisioners(body.get("provisioner", []), where, problems)
        for dep in body.get("depends_on", []):
            if not is_expression(dep) or not re.fullmatch(r"[\w-]+\.[\w-]+", dep[2:-1]):
                problems.append(f"{where}.depends_on: {dep!r} is not a resource address")
        for expr in expressions(body):
            for root, steps in references(expr):
                _check_reference(root, steps, where, declared, var_names, "for_each" in body, problems)
    return problems

#!/usr/bin/env python3
"""Extracts the google provider's schema for the resource types and data sources mlgen emits.

The Terraform validator (tests/py/test_terraform.py) checks generated .tf files against
tests/data/google-provider-schema.json, written by this script. `terraform providers schema`
needs the provider binary, which cannot be downloaded offline, so the schema comes from the
prebuilt CDK for Terraform bindings on PyPI instead: they are generated from the provider's
own schema, and carry it in two places that this script reads and cross-checks:

- the jsii assembly (`.jsii`): every argument and nested block, its type, and whether it is
  optional; a nested block typed as one struct has at most one item ("single"), one typed
  as an array is repeated ("list" or "set", as the bindings write it);
- the compiled bindings (`lib/<resource>/index.js`): the exact Terraform (snake_case) name
  of each argument, whether cdktf writes it as a block or an attribute, and the names of
  the attributes a resource exports (`getStringAttribute('email')`).

A name the two sources do not agree on stops the script, so the JSON never guesses.

Regenerate (needs PyPI; the wheel is about 45 MB and is not kept):

    python3 tools/tf_schema/extract.py --out tests/data/google-provider-schema.json

or, with a wheel already downloaded (`pip download --no-deps
cdktf-cdktf-provider-google==16.12.1`), `--wheel PATH`.

The bindings stop at provider 6.50.0, and mlgen pins a later provider (the first with
`mount_options` on Cloud Run's Cloud Storage volumes). The difference, for what mlgen emits,
is read from the provider's Go source at the pinned tag into a reviewed overlay
(tools/tf_schema/overlay-<version>.json, each entry naming its source file), which this
script applies last: new arguments, IAM member resource types (the provider builds each
from its parent's fields plus role, member and a condition block), resource types the
bindings lack or mlgen emits only since the bump (whole, from the resource's schema map)
and the data sources mlgen reads prerequisites with. `--base FILE` applies the overlay to an already extracted schema
instead of the wheel (applying it twice changes nothing). When bumping the provider, write
the overlay for the new version from its source, then bump the `required_providers` pin
(GOOGLE_PROVIDER_VERSION in src/render/terraform.rs).
"""

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "cdktf-cdktf-provider-google"
# 16.12.1 is the last release of the bindings, generated from google provider 6.50.0.
WHEEL_VERSION = "16.12.1"
PROVIDER_VERSION = "6.50.0"

# Every resource type mlgen's Terraform target can emit.
RESOURCE_TYPES = [
    "google_artifact_registry_repository",
    "google_cloud_run_v2_service",
    "google_cloud_run_v2_service_iam_member",
    "google_project_service",
    "google_secret_manager_secret_iam_member",
    "google_service_account",
    "google_service_account_iam_member",
    "google_storage_bucket_iam_member",
]

# The resource types of monitoring.tf ([monitoring]), kept as their own list.
MONITORING_RESOURCE_TYPES = [
    "google_monitoring_alert_policy",
    "google_monitoring_dashboard",
    "google_monitoring_notification_channel",
    "google_monitoring_uptime_check_config",
]

# The data sources mlgen's Terraform target reads that the bindings describe; those of the
# pinned provider's later releases are in the overlay.
DATA_SOURCE_TYPES = [
    "google_artifact_registry_docker_image",
]

PREFIX = "@cdktf/provider-google."
OVERLAY = Path(__file__).with_name("overlay-7.5.0.json")


def load_wheel(path):
    """Returns (assembly dict, {module file: js text}) from the wheel's jsii tarball."""
    with zipfile.ZipFile(path) as whl:
        [tgz] = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        data = whl.read(tgz)
    js = {}
    assembly = None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if member.name == "package/.jsii":
                assembly = json.load(tar.extractfile(member))
            elif member.name.startswith("package/lib/") and member.name.endswith("/index.js"):
                js[member.name[len("package/"):]] = tar.extractfile(member).read().decode()
    if assembly is None:
        sys.exit("no .jsii assembly in the wheel")
    return assembly, js


# One entry of a `...ToHclTerraform` function or of `synthesizeHclAttributes`:
#     cpu_idle: {
#         value: cdktf.booleanToHclTerraform(struct.cpuIdle),
#         isBlock: false,
#         type: "simple",
ENTRY = re.compile(
    r"^\s+(?P<snake>[a-z0-9_]+): \{\n"
    r"\s+value: [^\n]*\((?:struct\.|this\._)(?P<camel>\w+)(?:\.internalValue)?\),\n"
    r"\s+isBlock: (?P<block>true|false),\n"
    r"\s+type: \"(?P<type>\w+)\",",
    re.M,
)


def hcl_entries(js, start):
    """The entries of the `const attrs = {...}` that follows `start` in js."""
    i = js.index(start)
    body = js[i:js.index("// remove undefined attributes", i)]
    return {m["camel"]: (m["snake"], m["block"] == "true", m["type"]) for m in ENTRY.finditer(body)}


def lower_first(s):
    return s[0].lower() + s[1:]


def prim_type(t):
    """Terraform type of a non-block jsii type."""
    if "primitive" in t:
        return {"string": "string", "number": "number", "boolean": "bool", "any": "any"}[t["primitive"]]
    if "union" in t:
        kinds = [x for x in t["union"]["types"] if x != {"fqn": "cdktf.IResolvable"}]
        if len(kinds) == 1:
            return prim_type(kinds[0])
        return "any"
    if "collection" in t:
        kind = {"array": "list", "map": "map"}[t["collection"]["kind"]]
        return f"{kind}({prim_type(t['collection']['elementtype'])})"
    if t.get("fqn") == "cdktf.IResolvable":
        return "any"
    raise ValueError(f"unexpected type {t}")


def struct_of(t):
    """(struct fqn, nesting) when t is a provider struct (a nested block), else None."""
    if t.get("fqn", "").startswith(PREFIX):
        return t["fqn"], "single"
    if "union" in t:
        for x in t["union"]["types"]:
            c = x.get("collection")
            if c and c["kind"] == "array" and c["elementtype"].get("fqn", "").startswith(PREFIX):
                return c["elementtype"]["fqn"], "list"
    return None


def block_schema(types, js, fqn, hcl_start):
    """The schema of one block (a resource's Config or a nested struct)."""
    struct = types[fqn]
    names = hcl_entries(js, hcl_start)
    attributes, blocks = {}, {}
    for p in struct.get("properties", []):
        camel = p["name"]
        if camel not in names:
            sys.exit(f"{fqn}.{camel}: not in the bindings' HCL attributes")
        snake, is_block, hcl_type = names[camel]
        # The docs link carries the Registry anchor: a second, independent spelling.
        anchor = re.search(r"#(\w+) ", p.get("docs", {}).get("remarks", "") + " ")
        if anchor and anchor[1] != snake:
            sys.exit(f"{fqn}.{camel}: bindings say {snake}, docs say {anchor[1]}")
        required = not p.get("optional", False)
        nested = struct_of(p["type"])
        if bool(nested) != is_block:
            sys.exit(f"{fqn}.{camel}: jsii and bindings disagree on block-ness")
        if nested:
            child, nesting = nested
            if nesting == "list":
                nesting = hcl_type  # repeated blocks are lists or sets
            name = child.rsplit(".", 1)[1]
            blocks[snake] = {
                "nesting": nesting,
                "required": required,
                "block": block_schema(types, js, child, f"function {lower_first(name)}ToHclTerraform("),
            }
        else:
            attributes[snake] = {"type": prim_type(p["type"]), "required": required}
    return {"attributes": dict(sorted(attributes.items())), "blocks": dict(sorted(blocks.items()))}


def resource_schema(types, js_files, tf_type, base="cdktf.TerraformResource"):
    """The schema of a resource type, or of a data source with base cdktf.TerraformDataSource."""
    [cls] = [
        t for t in types.values()
        if t.get("base") == base
        and re.search(r"\{@link \S+ (\w+)\}", t["docs"].get("summary", ""))[1] == tf_type
    ]
    module = cls["locationInModule"]["filename"].replace("src/", "lib/").replace(".ts", ".js")
    js = js_files[module]
    if f'{cls["name"]}.tfResourceType = "{tf_type}";' not in js:
        sys.exit(f"{tf_type}: bindings name another resource type")
    block = block_schema(types, js, cls["fqn"] + "Config", "synthesizeHclAttributes()")
    # Exported attributes: what the resource's getters read, as plain attributes
    # (`getStringAttribute('email')`) or as nested values (`new XList(this, "conditions")`).
    body = js[js.index(f"class {cls['name']} extends"):]
    body = body[:body.index(f"{cls['name']}.tfResourceType")]
    exported = set(re.findall(r"this\.get\w*Attribute\('([a-z0-9_]+)'\)", body))
    exported |= set(re.findall(r"new [\w.]+\(this, \"([a-z0-9_]+)\"", body))
    declared = set(block["attributes"]) | set(block["blocks"])
    missing = declared - exported - {"timeouts"}
    if missing:
        sys.exit(f"{tf_type}: arguments without a getter: {sorted(missing)}")
    computed = sorted(exported - declared)
    return {
        "block": block,
        "exported_attributes": sorted(exported | declared),
        "computed_only": computed,
    }


def provider_schema(types, js_files):
    """The `provider "google"` block's arguments."""
    cls = types[PREFIX + "provider.GoogleProvider"]
    module = cls["locationInModule"]["filename"].replace("src/", "lib/").replace(".ts", ".js")
    return block_schema(types, js_files[module], PREFIX + "provider.GoogleProviderConfig", "synthesizeHclAttributes()")


def iam_member_schema(parent):
    """The schema the provider's tpgiamresource.ResourceIamMember builds over a parent."""
    attributes = dict(parent)
    attributes.update({
        "id": {"required": False, "type": "string"},
        "member": {"required": True, "type": "string"},
        "role": {"required": True, "type": "string"},
    })
    condition = {
        "block": {
            "attributes": {
                "description": {"required": False, "type": "string"},
                "expression": {"required": True, "type": "string"},
                "title": {"required": True, "type": "string"},
            },
            "blocks": {},
        },
        "nesting": "single",
        "required": False,
    }
    return {
        "block": {"attributes": dict(sorted(attributes.items())), "blocks": {"condition": condition}},
        "exported_attributes": sorted({*attributes, "condition", "etag"}),
        "computed_only": ["etag"],
    }


def apply_overlay(schema, overlay):
    """The schema with the overlay's additions; applying it twice changes nothing."""
    for add in overlay["add_arguments"]:
        resource = schema["resource_types"][add["resource_type"]]
        block = resource["block"]
        for name in add["block_path"]:
            block = block["blocks"][name]["block"]
        block["attributes"][add["name"]] = add["schema"]
        block["attributes"] = dict(sorted(block["attributes"].items()))
    for r in overlay["iam_member_resources"]:
        schema["resource_types"][r["resource_type"]] = iam_member_schema(r["parent"])
    for name, r in overlay["resources"].items():
        declared = set(r["block"]["attributes"]) | set(r["block"]["blocks"])
        schema["resource_types"][name] = {
            "block": r["block"],
            "exported_attributes": sorted(declared | {"id", *r["computed_only"]}),
            "computed_only": r["computed_only"],
        }
    schema["data_sources"] = schema.get("data_sources", {}) | {
        name: {
            "block": {"attributes": d["arguments"], "blocks": {}},
            "exported_attributes": sorted(set(d["exported_attributes"]) | set(d["arguments"])),
        }
        for name, d in overlay["data_sources"].items()
    }
    schema["data_sources"] = dict(sorted(schema["data_sources"].items()))
    schema["provider"]["version"] = overlay["provider_version"]
    schema["source"] = f"{WHEEL}=={WHEEL_VERSION} + tools/tf_schema/{OVERLAY.name}"
    schema["resource_types"] = dict(sorted(schema["resource_types"].items()))
    return schema


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", help=f"a downloaded {WHEEL}=={WHEEL_VERSION} wheel")
    ap.add_argument("--base", help="apply the overlay to this extracted schema instead of the wheel")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    overlay = json.loads(OVERLAY.read_text())
    if args.base:
        schema = apply_overlay(json.loads(Path(args.base).read_text()), overlay)
        Path(args.out).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.out}: {args.base} with {OVERLAY.name}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 f"{WHEEL}=={WHEEL_VERSION}", "-d", tmp],
                check=True,
            )
            [wheel] = Path(tmp).glob("*.whl")
        if f"-{WHEEL_VERSION}-" not in Path(wheel).name:
            sys.exit(f"expected {WHEEL} {WHEEL_VERSION}, got {wheel}")
        assembly, js = load_wheel(wheel)
    if f"google/{PROVIDER_VERSION}/docs" not in json.dumps(assembly["types"][PREFIX + "provider.GoogleProvider"]["docs"]):
        sys.exit(f"the wheel is not generated from provider {PROVIDER_VERSION}")
    schema = {
        "generated_by": "tools/tf_schema/extract.py",
        "source": f"{WHEEL}=={WHEEL_VERSION}",
        "provider": {"source": "hashicorp/google", "version": PROVIDER_VERSION},
        "meta_arguments": ["count", "depends_on", "for_each", "lifecycle", "provider"],
        "provider_block": provider_schema(assembly["types"], js),
        "resource_types": {
            t: resource_schema(assembly["types"], js, t)
            for t in sorted(RESOURCE_TYPES + MONITORING_RESOURCE_TYPES)
        },
        "data_sources": {
            t: resource_schema(assembly["types"], js, t, "cdktf.TerraformDataSource") for t in DATA_SOURCE_TYPES
        },
    }
    schema = apply_overlay(schema, overlay)
    Path(args.out).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {len(schema['resource_types'])} resource types and {len(schema['data_sources'])} "
          f"data sources from {WHEEL} {WHEEL_VERSION}, then {OVERLAY.name}")


if __name__ == "__main__":
    main()

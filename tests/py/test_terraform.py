"""The Terraform target: formatted as `terraform fmt` wants, valid against the pinned google
provider's schema, and deploying exactly what the model says."""

import json
import re
import shutil

import ci_specs
import pytest
import tf_validate
from conftest import ROOT, copy_example, model_of, render_spec_text
from extract_terraform import block, extract
from iam_specs import CROSS_PROJECT
from parity import expected


@pytest.fixture
def generated(tmp_path, example):
    """(spec, terraform folder) of an example applied in a temporary folder."""
    spec, out = copy_example(tmp_path, example)
    return spec, out / "terraform"


def test_files(generated):
    spec, tf = generated
    expected = ["main.tf", "outputs.tf", "variables.tf", "versions.tf"]
    model = model_of(spec)
    if model["monitoring"]:
        expected += ["dashboard.json", "monitoring.tf"]
    if model["ci"]:
        expected += ["ci.tf"]
    if "rollout" in model:
        expected += ["rollout.tf"]
    assert sorted(p.name for p in tf.iterdir()) == sorted(expected)


def test_fmt_check(generated):
    ok, output = tf_validate.fmt_check(generated[1])
    assert ok, output


def test_valid_against_provider_schema(generated):
    assert tf_validate.validate(generated[1]) == []


def test_deploys_what_the_model_says(generated):
    spec, tf = generated
    assert extract(tf) == expected(model_of(spec))


def test_grants_checked_at_deploy_come_before_the_service(generated):
    spec, tf = generated
    model = model_of(spec)
    parsed = tf_validate.load_dir(tf)
    [svc] = [b for _, t, _, b in tf_validate.resources(parsed) if t == "google_cloud_run_v2_service"]
    deps = {d[2:-1].split(".")[1] for d in svc["depends_on"]}
    assert deps >= {g["key"] for g in model["iam"] if g["before_service"]}
    assert "apis" in deps


def test_the_service_runs_the_build_by_digest(generated):
    """One apply builds the image before the service (the build is a resource the digest
    read waits for), and the service names the digest, so a new build rolls out."""
    spec, tf = generated
    model = model_of(spec)
    parsed = tf_validate.load_dir(tf)
    res = {(t, n): b for _, t, n, b in tf_validate.resources(parsed)}
    [container] = block(res[("google_cloud_run_v2_service", "service")], "template")["containers"]
    if not model["image"]["built_here"]:
        assert container["image"] == "${var.image}"
        return
    assert container["image"] == "${data.google_artifact_registry_docker_image.image.self_link}"
    build = res[("terraform_data", "image")]
    assert build["triggers_replace"] == "${local.content_tag}"
    assert "${google_artifact_registry_repository.images}" in build["depends_on"]
    [read] = [b for _, t, _, b in tf_validate.data_sources(parsed) if t == "google_artifact_registry_docker_image"]
    assert read["depends_on"] == ["${terraform_data.image}"]
    assert read["image_name"] == f'"{model["image"]["name"]}:${{local.content_tag}}"'
    assert [tf_validate.unquote(i) for i in tf_validate.local_values(parsed)["image_inputs"]] == model["build"]["inputs"]


def test_variables_default_to_the_spec(generated):
    spec, tf = generated
    model = model_of(spec)
    defaults = {n: tf_validate.unquote(str(b["default"])) for n, b in tf_validate.variables(tf_validate.load_dir(tf)).items()}
    want = {"project": model["service"]["project"], "region": model["service"]["region"]}
    if not model["image"]["built_here"]:
        want["image"] = model["image"]["url"]  # an image built here is read by digest instead
    if "rollout" in model:  # the candidate starts with no traffic; no revision before the first
        want.update(candidate_percent="0", stable_revision="")
    assert defaults == want


HOSTILE = '''
[service]
name = "odd-values"
project = "p-odd-values"
region = "europe-west1"
description = "quote \\" backslash \\\\ ${var.x} %{if} $${y} tab\\t end"
labels = { team = "a-b" }
deletion_protection = false

[model]
framework = "onnx"
source = "gs://some-bucket/m/model.onnx"
features = ["a"]

[container]
python = "3.12"

[image]
url = "europe-west1-docker.pkg.dev/p-odd-values/r/img:1"

[resources]
cpu = 1
memory = "2Gi"

[scaling]
max_instances = 2
concurrency = 4

[service_account]
account_id = "odd-values-run"
display_name = "Odd \\"display\\" ${name}"

[env]
WEIRD = "line1\\nline2 \\"q\\" \\\\ ${HOME} %{x} } { ]"
'''


def test_spec_values_stay_inside_strings(tmp_path):
    """Quotes, backslashes, newlines and template sequences in spec values survive as data."""
    spec, out = render_spec_text(tmp_path, HOSTILE)
    tf = out / "terraform"
    ok, output = tf_validate.fmt_check(tf)
    assert ok, output
    assert tf_validate.validate(tf) == []
    got = extract(tf)
    assert got == expected(model_of(spec))
    assert got["env"]["WEIRD"] == 'line1\nline2 "q" \\ ${HOME} %{x} } { ]'
    assert got["repository"] is None


def test_schema_pins_match():
    """The committed schema, the extraction script, its overlay and the generated pin name
    one version; the schema is what the script writes from the base and the overlay."""
    schema = tf_validate.SCHEMA
    tools = ROOT / "tools" / "tf_schema"
    script = (tools / "extract.py").read_text()
    overlay_name = re.search(r'^OVERLAY = .*"(overlay-.*\.json)"', script, re.M)[1]
    overlay = json.loads((tools / overlay_name).read_text())
    version = overlay["provider_version"]
    wheel = re.search(r'^WHEEL_VERSION = "(.*)"', script, re.M)[1]
    assert schema["provider"]["version"] == version
    assert schema["source"] == f"cdktf-cdktf-provider-google=={wheel} + tools/tf_schema/{overlay_name}"
    emitted = set(re.findall(r'"(google_[a-z0-9_]+)"', script))
    data_list = re.search(r"^DATA_SOURCE_TYPES = \[(.*?)\]", script, re.MULTILINE | re.DOTALL)[1]
    from_wheel = set(re.findall(r'"(google_[a-z0-9_]+)"', data_list))
    resource_types = emitted - from_wheel | {r["resource_type"] for r in overlay["iam_member_resources"]}
    resource_types |= set(overlay["resources"])
    assert resource_types == set(schema["resource_types"])
    assert from_wheel | set(overlay["data_sources"]) == set(schema["data_sources"])
    rust = "".join((ROOT / "src" / "render" / f).read_text() for f in ["terraform.rs", "ci.rs"])
    assert f'GOOGLE_PROVIDER_VERSION: &str = "{version}"' in rust
    known = set(schema["resource_types"]) | set(schema["data_sources"])
    assert set(re.findall(r'"(?:data\.)?(google_[a-z0-9_]+)"', rust)) <= known


def test_schema_has_the_mount_options_of_the_pinned_provider():
    gcs = tf_validate.SCHEMA["resource_types"]["google_cloud_run_v2_service"]["block"]["blocks"]["template"]
    gcs = gcs["block"]["blocks"]["volumes"]["block"]["blocks"]["gcs"]["block"]
    assert gcs["attributes"]["mount_options"] == {"required": False, "type": "list(string)"}


def test_validator_checks_data_sources(tmp_path):
    (tmp_path / "main.tf").write_text(
        'data "google_storage_bucket" "b" {\n  name = "x"\n  colour = "red"\n}\n'
        'data "google_nope" "n" {\n}\n'
        'resource "google_storage_bucket_iam_member" "m" {\n'
        '  bucket = data.google_storage_bucket.b.nope\n'
        '  role   = data.google_storage_bucket.missing.name\n'
        '  member = "user:a@b.example"\n}\n'
    )
    problems = "\n".join(tf_validate.validate(tmp_path))
    assert "unknown argument `colour`" in problems
    assert "data source google_nope is not one mlgen reads" in problems
    assert "has no attribute `nope`" in problems
    assert "`data.google_storage_bucket.missing.name` names no declared data source" in problems


def test_schema_knows_blocks_from_attributes():
    svc = tf_validate.SCHEMA["resource_types"]["google_cloud_run_v2_service"]
    tpl = svc["block"]["blocks"]["template"]
    assert tpl["required"] and tpl["nesting"] == "single"
    ctr = tpl["block"]["blocks"]["containers"]
    assert ctr["nesting"] == "list"
    assert "limits" in ctr["block"]["blocks"]["resources"]["block"]["attributes"]
    assert ctr["block"]["attributes"]["image"]["required"]
    assert {"uri", "name", "location", "project"} <= set(svc["exported_attributes"])
    sa = tf_validate.SCHEMA["resource_types"]["google_service_account"]
    assert {"email", "member", "name"} <= set(sa["computed_only"])


# --- the validator catches what it should ---------------------------------------------------


@pytest.fixture
def fraud_tf(tmp_path):
    """A writable copy of a valid generated folder (the example with the most resources)."""
    _, out = copy_example(tmp_path, "fraud-onnx-gcs")
    tf = tmp_path / "tf"
    shutil.copytree(out / "terraform", tf)
    assert tf_validate.validate(tf) == []
    return tf


def edit(tf, old, new, file="main.tf"):
    path = tf / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in {file}"
    path.write_text(text.replace(old, new))


BROKEN = {
    "misspelt argument": (
        "      max_instance_count = 50", "      max_instances_count = 50",
        "unknown argument `max_instances_count`"),
    "misspelt nested block": (
        "      startup_probe {", "      startup_probes {",
        "unknown block `startup_probes`"),
    "block written as attribute": (
        "    scaling {\n      min_instance_count = 2\n      max_instance_count = 50\n    }",
        "    scaling = {\n      min_instance_count = 2\n      max_instance_count = 50\n    }",
        "`scaling` is a block, written as an attribute"),
    "attribute written as block": (
        '  display_name = "Fraud scorer runtime"', '  display_name {\n  }',
        "`display_name` is an attribute, written as a block"),
    "missing required argument": (
        '  account_id   = "fraud-scorer-run"\n', "",
        "missing required argument `account_id`"),
    "missing required block": (
        "  template {", "  templates {",
        "missing required block `template`"),
    "single block twice": (
        "    scaling {", "    scaling {\n      min_instance_count = 1\n    }\n\n    scaling {",
        "at most one `scaling` block"),
    "unknown resource attribute": (
        "google_service_account.runtime.email", "google_service_account.runtime.emial",
        "google_service_account has no attribute `emial`"),
    "undeclared resource": (
        "service_account_id = google_service_account.runtime.name",
        "service_account_id = google_service_account.runner.name",
        "`google_service_account.runner` is not declared"),
    "undeclared variable": (
        "  location      = var.region", "  location      = var.regions",
        "`var.regions` names no declared variable"),
    "undeclared local": (
        "triggers_replace = local.content_tag", "triggers_replace = local.content_hash",
        "`local.content_hash` names no declared local value"),
    "unknown data source attribute": (
        "image = data.google_artifact_registry_docker_image.image.self_link",
        "image = data.google_artifact_registry_docker_image.image.digest",
        "has no attribute `digest`"),
    "undeclared data source": (
        'data "google_artifact_registry_docker_image" "image"', 'data "google_artifact_registry_docker_image" "built"',
        "`data.google_artifact_registry_docker_image.image.self_link` names no declared data source"),
    "unknown provisioner argument": (
        "    working_dir = local.build_context", "    workdir = local.build_context",
        "provisioner.local-exec.workdir: unknown argument `workdir`"),
    "unknown terraform_data argument": (
        "triggers_replace = local.content_tag", "triggers = local.content_tag",
        "terraform_data.image.triggers: unknown argument `triggers`"),
    "for_each resource without index": (
        "  service            = each.value", "  service            = google_project_service.apis.service",
        "has for_each, index it first"),
    "v1 resource type": (
        'resource "google_cloud_run_v2_service" "service"', 'resource "google_cloud_run_service" "service"',
        "resource type google_cloud_run_service is not"),
    "wrong type": (
        "  deletion_protection  = true", '  deletion_protection  = {}',
        "deletion_protection: expected bool"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_schema_check_catches(fraud_tf, case):
    old, new, message = BROKEN[case]
    edit(fraud_tf, old, new)
    problems = tf_validate.validate(fraud_tf)
    assert any(message in p for p in problems), problems


def test_validator_reports_where(fraud_tf):
    edit(fraud_tf, "      max_instance_count = 50", "      max_instances_count = 50")
    [problem] = tf_validate.validate(fraud_tf)
    assert problem.startswith("main.tf: google_cloud_run_v2_service.service.template[0].scaling[0].")


def test_fmt_check_catches_unaligned(fraud_tf):
    edit(fraud_tf, '  account_id   = "fraud-scorer-run"', '  account_id = "fraud-scorer-run"')
    ok, output = tf_validate.fmt_check(fraud_tf)
    assert not ok
    assert "account_id" in output


def test_wrong_provider_pin_is_caught(fraud_tf):
    edit(fraud_tf, f'version = "{tf_validate.SCHEMA["provider"]["version"]}"', 'version = "~> 6.0"', "versions.tf")
    assert any("not pinned" in p for p in tf_validate.validate(fraud_tf))


def test_extract_sees_a_changed_value(fraud_tf):
    """The parity check is not vacuous: a changed literal changes the extraction."""
    before = extract(fraud_tf)
    edit(fraud_tf, '            version = "4"', '            version = "5"')
    after = extract(fraud_tf)
    assert after["secrets"]["FEATURE_STORE_API_KEY"]["version"] == "5"
    assert json.dumps(before) != json.dumps(after)


def test_an_image_of_another_project_is_pulled_by_the_service_agent(tmp_path):
    spec, out = render_spec_text(tmp_path, CROSS_PROJECT)
    tf = out / "terraform"
    assert tf_validate.validate(tf) == []
    got = extract(tf)
    assert got == expected(model_of(spec))
    [pull] = [g for g in got["iam"] if g["target"] == "repository"]
    assert pull["resource"] == "projects/p-images/locations/europe-west1/repositories/base"
    assert pull["member"] == "serviceAccount:service-PROJECT_NUMBER@serverless-robot-prod.iam.gserviceaccount.com"
    main = (tf / "main.tf").read_text()
    assert 'data "google_project" "project"' in main
    [volume] = got["volumes"]
    assert volume["mount_options"] == ["only-dir=team/v2"]


def test_a_protected_service_stops_destroy_before_anything_is_deleted(tmp_path, example):
    spec, out = copy_example(tmp_path, example)
    protected = model_of(spec)["service"]["deletion_protection"]
    parsed = tf_validate.load_dir(out / "terraform")
    [body] = [b for _, t, _, b in tf_validate.resources(parsed) if t == "google_cloud_run_v2_service"]
    lifecycle = body.get("lifecycle", [{}])[0]
    assert lifecycle.get("prevent_destroy", False) == protected


@pytest.mark.parametrize("provider", ["github", "cloudbuild"])
def test_the_pipeline_deploys_what_the_model_says(tmp_path, provider):
    """The pool and its provider (GitHub) or the trigger (Cloud Build), the deploy account
    and exactly its grants: valid for the provider and what the model resolves."""
    spec, out = ci_specs.with_provider(tmp_path, provider)
    tf = out / "terraform"
    ok, output = tf_validate.fmt_check(tf)
    assert ok, output
    assert tf_validate.validate(tf) == []
    got = extract(tf)["ci"]
    assert got == expected(model_of(spec))["ci"]
    assert (got["pool"] is None, got["trigger"] is None) == (provider == "cloudbuild", provider == "github")

"""The control plane catches the mistakes that every file check passes: each test breaks one
thing in an example's generated files and asserts the replay refuses it, with the API's reason."""

import re

import pytest
from cplane import TARGETS, Setup


def _sub(pattern, repl, count=1):
    def edit(text):
        new, n = re.subn(pattern, repl, text, count=count, flags=re.MULTILINE)
        assert n, f"{pattern!r} not found: the mutation no longer applies"
        return new
    return edit


def _move_bucket_grant_after_the_service(text):
    grant = re.search(r"^step Granting roles/storage\.objectViewer.*?>/dev/null\n\n", text, re.MULTILINE | re.DOTALL)
    assert grant, "no bucket grant in deploy.sh"
    text = text.replace(grant[0], "")
    return text.replace('step "Done:', grant[0] + 'step "Done:')


def _move_build_push_after_the_service(text):
    grant = re.search(r"^step Granting roles/artifactregistry\.writer on \S+ to serviceAccount:\S+-build@.*?>/dev/null\n\n",
                      text, re.MULTILINE | re.DOTALL)
    assert grant, "no build account grant in deploy.sh"
    text = text.replace(grant[0], "")
    return text.replace('step "Done:', grant[0] + 'step "Done:')


def _move_build_source_after_the_service(text):
    grant = re.search(r"^step Granting roles/storage\.objectViewer on \S+-build to serviceAccount:\S+-build@.*?>/dev/null\n\n",
                      text, re.MULTILINE | re.DOTALL)
    assert grant, "no staging bucket grant in deploy.sh"
    text = text.replace(grant[0], "")
    return text.replace('step "Done:', grant[0] + 'step "Done:')


# The submit command every target runs, and the build account's grant on the repository.
_SUBMIT_AS = r' --service-account=\\?"projects/\$PROJECT/serviceAccounts/\$BUILD_ACCOUNT\\?"'
_BUILD_PUSH_ROLE = r'(build_push\w+.*?)roles/artifactregistry\.writer'
_BUILD_PUSH_GCLOUD = r'(-build@\S+ --role=)roles/artifactregistry\.writer'
_STAGING_DIR = r' --gcs-source-staging-dir=\\?"\$STAGING_DIR\\?"'
_EVERY_TARGET = (("terraform", "terraform/main.tf"), ("pulumi", "pulumi/__main__.py"), ("gcloud", "gcloud/deploy.sh"))


def _dotall(pattern, repl):
    def edit(text):
        new, n = re.subn(pattern, repl, text, count=1, flags=re.DOTALL)
        assert n, f"{pattern!r} not found: the mutation no longer applies"
        return new
    return edit


MUTATIONS = {
    # name: {target: (file, edit)}, error text
    "email for name": ({
        "terraform": ("terraform/main.tf", _sub(r"(service_account_id\s*=\s*google_service_account\.runtime)\.name",
                                                r"\1.email")),
        "pulumi": ("pulumi/__main__.py", _sub(r"service_account_id=runtime_account\.name",
                                              "service_account_id=runtime_account.email")),
    }, "ServiceAccountLinkRegex"),
    "grant after the service": ({
        "terraform": ("terraform/main.tf", _sub(r"^\s*google_storage_(?:bucket|managed_folder)_iam_member\.\w+,\n", "")),
        "pulumi": ("pulumi/__main__.py", _sub(r"depends_on=\[\*apis, \*before_service\]", "depends_on=[*apis]")),
        "gcloud": ("gcloud/deploy.sh", _move_bucket_grant_after_the_service),
    }, "Permission denied"),
    "missing API": ({
        "terraform": ("terraform/main.tf", _sub(r'^\s*"secretmanager\.googleapis\.com",\n', "")),
        "pulumi": ("pulumi/__main__.py", _sub(r'^\s*"secretmanager\.googleapis\.com",\n', "")),
        "gcloud": ("gcloud/deploy.sh", _sub(r" secretmanager\.googleapis\.com", "")),
    }, "SERVICE_DISABLED"),
    "wrong member prefix": ({
        target: (path, _sub(r"serviceAccount:checkout@", "serviceaccount:checkout@", count=0))
        for target, path in (("terraform", "terraform/main.tf"), ("pulumi", "pulumi/__main__.py"),
                             ("gcloud", "gcloud/deploy.sh"))
    }, "Invalid principal"),
    # A principal set names its pool by the project's number; the id names no pool.
    "project id for number": ({
        "terraform": ("terraform/ci.tf", _sub(r"\$\{google_iam_workload_identity_pool\.ci\.name\}",
                                              "projects/${var.project}/locations/global/workloadIdentityPools/gh-churn-demo")),
        "gcloud": ("gcloud/ci-setup.sh", _sub(r"projects/\$number/locations", "projects/$project/locations")),
    }, "Identity Pool does not exist"),
    # The digest is read before the build that pushes it has run.
    "image read before its build": ({
        "terraform": ("terraform/main.tf", _sub(r"^\s*depends_on = \[terraform_data\.image\]\n", "")),
        "pulumi": ("pulumi/__main__.py", _sub(r"^\s*opts=pulumi\.InvokeOutputOptions\(depends_on=\[image_build\]\),\n", "")),
    }, "' not found"),
    "missing monitoring API": ({
        target: (path, _sub(r'^\s*"monitoring\.googleapis\.com",\n', ""))
        for target, path in (("terraform", "terraform/main.tf"), ("pulumi", "pulumi/__main__.py"))
    }, "SERVICE_DISABLED"),
    # The build runs as the project's default build identity.
    "build without its account": ({
        target: (path, _sub(_SUBMIT_AS, "")) for target, path in _EVERY_TARGET
    }, "default build identity"),
    # The build's account may read the repository, not push to it.
    "build account reads only": ({
        "terraform": ("terraform/main.tf", _dotall(_BUILD_PUSH_ROLE, r"\1roles/artifactregistry.reader")),
        "pulumi": ("pulumi/__main__.py", _dotall(_BUILD_PUSH_ROLE, r"\1roles/artifactregistry.reader")),
        "gcloud": ("gcloud/deploy.sh", _sub(_BUILD_PUSH_GCLOUD, r"\1roles/artifactregistry.reader")),
    }, "uploadArtifacts"),
    # The build's account gets its push after the build ran.
    "build push granted after the build": ({
        "terraform": ("terraform/main.tf", _sub(r", google_artifact_registry_repository_iam_member\.build_push_\w+", "")),
        # Waits for the first build grant only, the read of its source.
        "pulumi": ("pulumi/__main__.py", _sub(r", \*build_grants\]", ", build_grants[0]]")),
        "gcloud": ("gcloud/deploy.sh", _move_build_push_after_the_service),
    }, "uploadArtifacts"),
    # The build's account may not write the build's logs.
    "build account without its log writer": ({
        target: (path, _sub(r"(role\W+)roles/logging\.logWriter", r"\1roles/logging.viewer")) for target, path in _EVERY_TARGET
    }, "logEntries.create"),
    # A user-specified account's build keeps its logs where the API allows.
    "build logs in the default bucket": ({
        target: ("gcloud/cloudbuild.json", _sub(r',\n  "options": \{"logging": "CLOUD_LOGGING_ONLY"\}', ""))
        for target, _ in _EVERY_TARGET
    }, "build.service_account"),
    # The source goes to gcloud's default bucket, which the build's account cannot read.
    "build without its staging bucket": ({
        target: (path, _sub(_STAGING_DIR, "")) for target, path in _EVERY_TARGET
    }, "--gcs-source-staging-dir"),
    # The build's account gets its read on the staged source after the build ran.
    "build source granted after the build": ({
        "terraform": ("terraform/main.tf", _sub(r", google_storage_bucket_iam_member\.build_source_\w+", "")),
        # Waits for the other build grants, not the first, the read of its source.
        "pulumi": ("pulumi/__main__.py", _sub(r", \*build_grants\]", ", *build_grants[1:]]")),
        "gcloud": ("gcloud/deploy.sh", _move_build_source_after_the_service),
    }, "storage.objects.get"),
    # The build's account reads another bucket (the model's), not the staging bucket.
    "build source grant on another bucket": ({
        "terraform": ("terraform/main.tf", _sub(r"(build_source_\w+\" \{\n\s*bucket\s*=\s*)google_storage_bucket\.staging\.name",
                                                r'\1"acme-models-prod"')),
        "pulumi": ("pulumi/__main__.py", _sub(r"bucket=staging_bucket\.name", 'bucket="acme-models-prod"')),
        "gcloud": ("gcloud/deploy.sh", _sub(r"(add-iam-policy-binding )gs://\S+-build( \\\n\s*--member=serviceAccount:\S+-build@)",
                                            r"\1gs://acme-models-prod\2")),
    }, "storage.objects.get"),
}
# The example each mutation breaks, where not fraud-onnx-gcs.
EXAMPLE = {"project id for number": "churn-public", "missing monitoring API": "churn-public"}

CASES = [(name, target) for name, (edits, _) in MUTATIONS.items() for target in TARGETS if target in edits]


@pytest.mark.parametrize(("mutation", "target"), CASES)
def test_the_control_plane_refuses_a_broken_deploy(tmp_path, mutation, target):
    edits, reason = MUTATIONS[mutation]
    path, edit = edits[target]
    setup = Setup.example(tmp_path, EXAMPLE.get(mutation, "fraud-onnx-gcs"))
    f = setup.out / path
    f.write_text(edit(f.read_text()))
    outcome = setup.deployment(target).deploy(setup.out)
    assert not outcome.ok, f"{mutation} deployed"
    assert any(reason in e for e in outcome.errors), outcome.errors

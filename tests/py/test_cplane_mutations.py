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

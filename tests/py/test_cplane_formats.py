"""The identifier formats the control plane enforces are the APIs' own: each is read from, or
checked against, the API definitions shipped with the installed gcloud SDK."""

import re

import pytest
from controlplane import formats


def doc(folder, module):
    """A message module's text with its docstring line wraps undone."""
    return re.sub(r"\s+", " ", formats.message_doc(folder, module))


@pytest.mark.parametrize(("kind", "path"), [
    ("account", "projects/{projectsId}/serviceAccounts/{serviceAccountsId}"),
    ("secret", "projects/{projectsId}/secrets/{secretsId}"),
    ("repository", "projects/{projectsId}/locations/{locationsId}/repositories/{repositoriesId}"),
    ("service", "projects/{projectsId}/locations/{locationsId}/services/{servicesId}"),
])
def test_resource_names_are_the_sdk_collection_paths(kind, path):
    assert formats.collection_path(kind) == path
    sample = re.sub(r"\{\w+\}", "x1", path)
    assert formats.is_name(kind, sample)
    assert not formats.is_name(kind, sample + "/extra")
    assert not formats.is_name(kind, "x1@acme.iam.gserviceaccount.com")


def test_a_managed_folder_is_named_by_its_path():
    assert formats.collection_path("folder") == "b/{bucket}/managedFolders/{managedFolder}"
    assert formats.is_name("folder", "b/acme-models-prod/managedFolders/fraud/v7/")
    assert not formats.is_name("folder", "b/acme-models-prod/managedFolders/fraud/v7")
    assert not formats.is_name("folder", "b/acme-models-prod")


def test_account_ids_follow_the_create_request_doc():
    assert formats.ACCOUNT_ID_DOC in doc("iam/v1", "iam_v1_messages.py")
    assert "must be 6-30 characters long" in doc("iam/v1", "iam_v1_messages.py")
    assert formats.is_account_id("fraud-scorer-run")
    for bad in ("short", "a" * 31, "Upper-case1", "ends-with-", "9starts-with-digit"):
        assert not formats.is_account_id(bad), bad


def test_members_follow_the_binding_doc():
    text = doc("iam/v1", "iam_v1_messages.py")
    for kind in formats.MEMBER_KINDS:
        placeholder = "{domain}" if kind == "domain" else "{emailid}"
        assert f"`{kind}:{placeholder}`" in text, kind
    for special in formats.MEMBER_SPECIAL:
        assert f"`{special}`" in text, special
    assert formats.is_member("serviceAccount:a-b@p.iam.gserviceaccount.com")
    assert formats.is_member("group:team@acme.example")
    assert formats.is_member("allUsers")
    for bad in ("serviceaccount:a@b.com", "a@b.com", "user:", "user:projects/p/serviceAccounts/a@b.com"):
        assert not formats.is_member(bad), bad


def test_the_runtime_account_of_a_service_is_an_email():
    text = doc("run/v2", "run_v2_messages.py")
    assert "serviceAccount: Email address of the IAM service account associated with the revision" in text


def test_the_provider_wants_the_account_resource_name_for_its_iam():
    email = "fraud-scorer-run@acme-payments.iam.gserviceaccount.com"
    assert formats.PROVIDER_SERVICE_ACCOUNT_LINK.fullmatch(f"projects/acme-payments/serviceAccounts/{email}")
    assert not formats.PROVIDER_SERVICE_ACCOUNT_LINK.fullmatch(email)

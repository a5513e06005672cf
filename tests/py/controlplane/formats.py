"""Identifier formats the APIs accept, from their own definitions.

Resource names come from the collection paths of the API clients shipped with the installed
gcloud SDK (lib/googlecloudsdk/generated_clients/apis/<api>/<version>/resources.py); the
account id rule and the IAM member prefixes from the message docs beside them. The one
provider-side rule (google_service_account_iam_member's service_account_id) is quoted from
terraform-provider-google's verify/validation.go, which pulumi-gcp bridges unchanged.
"""

import functools
import importlib.util
import os
import re
import subprocess
from pathlib import Path

COLLECTIONS = {
    # kind: (client folder, collection constant in its resources.py)
    "account": ("iam/v1", "PROJECTS_SERVICEACCOUNTS"),
    "secret": ("secretmanager/v1", "PROJECTS_SECRETS"),
    "repository": ("artifactregistry/v1", "PROJECTS_LOCATIONS_REPOSITORIES"),
    "service": ("run/v2", "PROJECTS_LOCATIONS_SERVICES"),
    "folder": ("storage/v1", "MANAGEDFOLDERS"),
    "trigger": ("cloudbuild/v1", "PROJECTS_LOCATIONS_TRIGGERS"),
}
# A placeholder that spans segments: a managed folder is named by its path in the bucket,
# which ends in `/` (Cloud Storage's managed folder naming rules).
MULTI_SEGMENT = {"managedFolder": r"((?:[^/]+/)+)"}

# CreateServiceAccountRequest.accountId (iam/v1): "must be 6-30 characters long, and match
# the regular expression `[a-z]([-a-z0-9]*[a-z0-9])`".
ACCOUNT_ID = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
ACCOUNT_ID_DOC = "match the regular expression `[a-z]([-a-z0-9]*[a-z0-9])`"

# BuildTrigger.name (cloudbuild/v1): "They must contain only alphanumeric characters and
# dashes. + They can be 1-64 characters long. + They must begin and end with an alphanumeric
# character."
TRIGGER_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9]{0,62}[A-Za-z0-9])?")
# BuildTrigger.serviceAccount: "Format: `projects/{PROJECT_ID}/serviceAccounts/{ACCOUNT_ID_OR_EMAIL}`".
TRIGGER_ACCOUNT = re.compile(r"projects/([^/]+)/serviceAccounts/([^/]+)")

# Binding.members (iam/v1): the principal kinds a policy may name, `kind:{id}` or bare.
MEMBER_KINDS = ("user", "serviceAccount", "group", "domain")
MEMBER_SPECIAL = ("allUsers", "allAuthenticatedUsers")
MEMBER_FEDERATED = ("principal://", "principalSet://")

# terraform-provider-google verify/validation.go: ServiceAccountLinkRegex =
# "projects/" + ProjectRegexWildCard + "/serviceAccounts/" + (one of the account email forms).
_PROJECT = (r"(?:(?:[-a-z0-9]{1,63}\.)*(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?):)?"
            r"(?:[0-9]{1,19}|(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)|-)")
_CREATED_EMAIL = r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])@[-a-z0-9\.]{1,63}\.iam\.gserviceaccount\.com$"
PROVIDER_SERVICE_ACCOUNT_LINK = re.compile(rf"projects/{_PROJECT}/serviceAccounts/(?:{_CREATED_EMAIL})")

EMAIL = re.compile(r"[^@/\s:]+@[^@/\s:]+\.[a-z]+")
BUCKET = re.compile(r"[a-z0-9][-a-z0-9_.]{1,220}[a-z0-9]")


def is_bucket_name(name):
    """Cloud Storage's bucket naming rules (cloud.google.com/storage/docs/naming-buckets):
    3-63 characters, or up to 222 with dots and each dot-separated part at most 63; lowercase
    letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit; not an IP
    address; not starting with "goog"; not containing "google"."""
    return bool(BUCKET.fullmatch(name)) and len(name) <= (222 if "." in name else 63) \
        and all(0 < len(part) <= 63 for part in name.split(".")) \
        and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name) \
        and not name.startswith("goog") and "google" not in name


@functools.cache
def sdk_root():
    root = os.environ.get("MLGEN_GCLOUD_SDK")
    if not root:
        root = subprocess.run(["gcloud", "info", "--format=value(installation.sdk_root)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    return Path(root) / "lib" / "googlecloudsdk" / "generated_clients" / "apis"


@functools.cache
def collection_path(kind):
    """The resource-name template of a collection, e.g. projects/{projectsId}/secrets/{secretsId}."""
    folder, constant = COLLECTIONS[kind]
    path = sdk_root() / folder / "resources.py"
    spec = importlib.util.spec_from_file_location(f"sdk_{folder.replace('/', '_')}_resources", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    collection = getattr(module.Collections, constant)
    # APIs with `{+name}` paths spell the template out in flat_paths; the others in path.
    return collection.flat_paths.get("") or collection.path


@functools.cache
def name_pattern(kind):
    template = re.escape(collection_path(kind))
    return re.compile(re.sub(r"\\\{(\w+)\\\}", lambda m: MULTI_SEGMENT.get(m[1], "([^/]+)"), template))


def is_name(kind, name):
    return bool(name_pattern(kind).fullmatch(name))


def message_doc(folder, module):
    return (sdk_root() / folder / module).read_text()


def is_member(member):
    """A principal as Binding.members documents it."""
    if member in MEMBER_SPECIAL:
        return True
    if member.startswith(MEMBER_FEDERATED):
        return True
    kind, sep, ident = member.partition(":")
    if not sep or kind not in MEMBER_KINDS:
        return False
    return bool(re.fullmatch(r"[^\s@/:]+\.[a-z]+", ident) if kind == "domain" else EMAIL.fullmatch(ident))


def is_account_id(account_id):
    return 6 <= len(account_id) <= 30 and bool(ACCOUNT_ID.fullmatch(account_id))

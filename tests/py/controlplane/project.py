"""The simulated cloud: state of the projects a deploy touches, and the rules a real first
deploy meets. Every mutation goes through `apply(res, action)`; with `check` it first
validates against the current state and raises Rejected with the API's reason.

Resources (`Res`) are the control plane's own vocabulary, one per API object:

    api         projects/{p}/services/{api}          {project, service, disable_on_destroy}
    account     projects/{p}/serviceAccounts/{email} {project, accountId, displayName}
    repository  projects/{p}/locations/{l}/repositories/{r}  {format, description}
    bucket      a Cloud Storage bucket, by name  {project, location, uniformBucketLevelAccess,
                publicAccessPrevention, lifecycle, labels; forceDestroy, how a delete treats
                the objects in it}: the model's, a prerequisite, or the build's staging bucket
    build       a Cloud Build that pushes one image  {project, tags, trigger, serviceAccount,
                source (the gs:// folder its source is staged in), logging, logsBucket,
                defaultLogsBucketBehavior}: builds.py
    service     projects/{p}/locations/{l}/services/{s}  {config, deletionProtection}; config's
                `traffic` (Terraform, Pulumi) or gcloud's flags decide where requests go, by
                revision name and tag; action `traffic` is gcloud's `update-traffic`
    monitoring  projects/{p}/{collection}/{displayName}  {project}: a channel, alert policy,
                uptime check or dashboard, held by its display name and checked for its API only
    pool        projects/{p}/locations/{l}/workloadIdentityPools/{id}[/providers/{id}]
                {project, displayName, description | attributeMapping, attributeCondition}
    binding     (resource, role, member) in the resource's IAM policy; a managed folder's
                resource is b/{bucket}/managedFolders/{folder}/
    trigger     projects/{p}/locations/{l}/triggers/{name}  the Cloud Build API's BuildTrigger
                (name, filename, serviceAccount, github, approvalConfig): see `trigger`

`config` is the Cloud Run service as the provider's camelCase shape spells it
(see service.py); every target builds the same shape, so end states compare directly.
"""

import copy
import hashlib
import re
from dataclasses import dataclass, field

from controlplane import formats

# The API that must be enabled before a resource of each kind is created.
API_OF = {
    "account": "iam.googleapis.com",
    "repository": "artifactregistry.googleapis.com",
    "service": "run.googleapis.com",
    "build": "cloudbuild.googleapis.com",
    "secret": "secretmanager.googleapis.com",
    "bucket": "storage.googleapis.com",
    "folder": "storage.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "pool": "iam.googleapis.com",
    "trigger": "cloudbuild.googleapis.com",
}

# The permissions the rules check, by predefined role (cloud.google.com/iam/docs/roles-permissions).
ROLE_PERMISSIONS = {
    "roles/owner": {"*"},
    "roles/editor": {"*"},
    "roles/secretmanager.secretAccessor": {"secretmanager.versions.access"},
    "roles/secretmanager.admin": {"secretmanager.versions.access"},
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.objectUser": {"storage.objects.get", "storage.objects.list", "storage.objects.create"},
    "roles/storage.objectAdmin": {"storage.objects.get", "storage.objects.list", "storage.objects.create"},
    "roles/storage.admin": {"storage.objects.get", "storage.objects.list", "storage.objects.create"},
    "roles/artifactregistry.reader": {"artifactregistry.repositories.downloadArtifacts"},
    "roles/artifactregistry.writer": {"artifactregistry.repositories.downloadArtifacts",
                                      "artifactregistry.repositories.uploadArtifacts"},
    "roles/artifactregistry.repoAdmin": {"artifactregistry.repositories.downloadArtifacts",
                                         "artifactregistry.repositories.uploadArtifacts"},
    "roles/artifactregistry.admin": {"artifactregistry.repositories.downloadArtifacts",
                                     "artifactregistry.repositories.uploadArtifacts"},
    "roles/iam.serviceAccountUser": {"iam.serviceAccounts.actAs"},
    "roles/run.developer": {"run.services.get", "run.services.create", "run.services.update"},
    "roles/run.admin": {"run.services.get", "run.services.create", "run.services.update",
                        "run.services.setIamPolicy"},
    "roles/run.invoker": {"run.routes.invoke"},
    "roles/logging.logWriter": {"logging.logEntries.create"},
    "roles/cloudbuild.builds.editor": {"cloudbuild.builds.create"},
}

# The Build.serviceAccount form the Cloud Build API takes (cloudbuild_v1_messages.py).
BUILD_ACCOUNT = re.compile(r"projects/(?P<project>[^/]+)/serviceAccounts/(?P<account>[^/]+)")
# With a user-specified account, where the API takes the build's logs (BuildOptions).
USER_ACCOUNT_LOGGING = {"CLOUD_LOGGING_ONLY", "STACKDRIVER_ONLY", "NONE"}

# What a deployer does on day two: act as the runtime account, update the service, push an image.
DEPLOY_PERMISSIONS = {
    "account": "iam.serviceAccounts.actAs",
    "service": "run.services.update",
    "repository": "artifactregistry.repositories.uploadArtifacts",
}

# A Workload Identity principal set names its pool by the project's number.
PRINCIPAL_SET = re.compile(r"principalSet://iam\.googleapis\.com/projects/(?P<number>\d+)/locations/(?P<loc>[^/]+)/"
                           r"workloadIdentityPools/(?P<pool>[^/]+)/.+")

AR_IMAGE = re.compile(r"(?P<loc>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)/"
                      r"(?P<image>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?")


class Rejected(Exception):
    """What the API (or the tool, before calling it) refused, and why."""


class NotModelled(Exception):
    """A resource or call the control plane does not know: extend it rather than guess."""


@dataclass(frozen=True)
class Res:
    kind: str
    name: str
    attrs: dict = field(default_factory=dict, compare=False, hash=False)


def binding(resource, role, member):
    return Res("binding", f"{resource}#{role}#{member}", {"resource": resource, "role": role, "member": member})


def bucket(name, project, location, uniform, prevention, rules, force_destroy):
    """A bucket as the Cloud Storage API holds it (location upper-case, lifecycle rules as
    action and age); `force_destroy`: a delete removes the objects in it first."""
    lifecycle = [{"action": r["action"]["type"], "age": int(r["condition"]["age"])} for r in rules]
    return Res("bucket", name, {"project": project, "location": location.upper(), "uniformBucketLevelAccess": uniform,
                                "publicAccessPrevention": prevention, "lifecycle": lifecycle,
                                "forceDestroy": force_destroy})


def trigger(project, location, fields):
    """A Cloud Build trigger from its BuildTrigger fields (camelCase). No approvalConfig is the
    API's default, approval not required: spelt out, so every target's trigger compares."""
    attrs = {k: v for k, v in fields.items() if k not in ("project", "location")}
    attrs["approvalConfig"] = {"approvalRequired": bool((fields.get("approvalConfig") or {}).get("approvalRequired"))}
    return Res("trigger", f"projects/{project}/locations/{location}/triggers/{fields['name']}", attrs)


def image_repository(url):
    m = AR_IMAGE.fullmatch(url or "")
    return None if m is None else f"projects/{m['project']}/locations/{m['loc']}/repositories/{m['repo']}"


def service_agent(number):
    return f"serviceAccount:service-{number}@serverless-robot-prod.iam.gserviceaccount.com"


class Cloud:
    """The projects a deploy touches. `project` is the deploy's own; others may hold images."""

    def __init__(self, project, secrets=(), buckets=(), folders=(), gpu_quota=None, accounts=(),
                 number="123456789012"):
        self.project = project
        self.number = number
        self.apis = {}  # project -> set of enabled APIs
        self.accounts = {  # resource name -> {displayName}
            f"projects/{email.split('@')[1].split('.')[0]}/serviceAccounts/{email}": {"displayName": None}
            for email in accounts
        }
        self.repositories = {}  # resource name -> {format, description}
        self.images = {}  # image path (no tag) -> {"tags": {tag: digest}, "digests": [digest]}
        # resource name -> {config, deletionProtection, digest, revision (a count), revisions
        # ({name: template}), latest (a name), traffic ({"split": {revision: percent > 0},
        # "tags": {tag: revision}})}
        self.services = {}
        self.policies = set()  # (resource, role, member)
        self.secrets = {f"projects/{project}/secrets/{s}" for s in secrets}
        self.buckets = {b: {} for b in buckets}  # name -> attrs; a prerequisite's are empty
        self.staged = set()  # buckets holding a build's staged source
        self.folders = set(folders)  # b/{bucket}/managedFolders/{folder}/
        self.monitoring = {}  # resource name -> {project}
        self.pools = {}  # resource name of a pool or its provider -> attrs
        self.triggers = {}  # resource name -> BuildTrigger fields
        self.deleted_pools = {}  # the same, deleted: kept (and their ids taken) for 30 days
        self.gpu_quota = dict(gpu_quota or {})  # region -> GPUs
        self.changes = []  # (action, kind, name) of every applied mutation

    def copy(self):
        return copy.deepcopy(self)

    # --- state read by the rules -------------------------------------------------------

    def enabled(self, project, api):
        return api in self.apis.get(project, set())

    def holds(self, prerequisite):
        """Whether a prerequisite (a secret, bucket, managed folder or repository, by resource
        name) exists."""
        return prerequisite in self.secrets or prerequisite in self.folders or \
            prerequisite.removeprefix("b/") in self.buckets or prerequisite in self.repositories

    def may(self, member, permission, *resources):
        """True when member holds permission on one of resources or on the project above it."""
        scopes = set(resources) | {"/".join(r.split("/")[:2]) for r in resources if r.startswith("projects/")}
        for resource, role, who in self.policies:
            granted = ROLE_PERMISSIONS.get(role, set())
            if who == member and resource in scopes and ("*" in granted or permission in granted):
                return True
        return False

    def push(self, *urls):
        """One image build and push under every tag of `urls` (one image), by hand or by Cloud
        Build. Builds are not reproducible (timestamps), so each gets a new digest: the n-th
        build of an image has the same digest in every target, which keeps end states comparable."""
        paths = set()
        for url in urls:
            m = AR_IMAGE.fullmatch(url)
            assert m and m["tag"], f"not a tagged Artifact Registry image: {url}"
            paths.add(url.rsplit(":", 1)[0])
        (path,) = paths
        digest = self.next_digest(path)
        entry = self.images.setdefault(path, {"tags": {}, "digests": []})
        entry["tags"].update({url.rsplit(":", 1)[1]: digest for url in urls})
        entry["digests"].append(digest)
        return digest

    def next_digest(self, path):
        """The digest the next build of the image at `path` gets."""
        built = len(self.images.get(path, {}).get("digests", []))
        return "sha256:" + hashlib.sha256(f"{path}|{built}".encode()).hexdigest()

    def resolve(self, url):
        """The digest an image reference names, or None when the registry has no such image."""
        m = AR_IMAGE.fullmatch(url or "")
        if m is None:
            return None
        entry = self.images.get(f"{m['loc']}-docker.pkg.dev/{m['project']}/{m['repo']}/{m['image']}")
        if entry is None:
            return None
        if m["digest"]:
            return m["digest"] if m["digest"] in entry["digests"] else None
        return entry["tags"].get(m["tag"])

    # --- mutations ---------------------------------------------------------------------

    def apply(self, res, action, check=True, **how):
        """Creates, updates or deletes res; `how` carries tool semantics (see the kinds)."""
        before = self._snapshot()
        getattr(self, f"_{res.kind}")(res, action, check, **how)
        if self._snapshot() != before:  # enabling an enabled API, say, changes nothing
            self.changes.append((action, res.kind, res.name))

    def _snapshot(self):
        return repr((sorted((p, sorted(a)) for p, a in self.apis.items()), self.accounts, self.repositories,
                     self.images, self.services, self.monitoring, self.pools, self.triggers,
                     self.buckets, sorted(self.policies)))

    def _require_api(self, project, kind):
        api = API_OF[kind]
        if not self.enabled(project, api):
            raise Rejected(f"{api} has not been used in project {project} before or it is disabled "
                           f"(SERVICE_DISABLED), creating a {kind}")

    def _api(self, res, action, check):
        project, api = res.attrs["project"], res.attrs["service"]
        if action == "delete":
            if res.attrs.get("disable_on_destroy", True):
                self.apis.get(project, set()).discard(api)
            return
        self.apis.setdefault(project, set()).add(api)

    def _account(self, res, action, check):
        a = res.attrs
        if check:
            if not formats.is_name("account", res.name):
                raise Rejected(f"invalid service account name {res.name!r}")
            if action == "create":
                self._require_api(a["project"], "account")
                if not formats.is_account_id(a["accountId"]):
                    raise Rejected(f"accountId {a['accountId']!r} must be 6-30 characters and "
                                   f"{formats.ACCOUNT_ID_DOC}")
                if res.name in self.accounts:
                    raise Rejected(f"ALREADY_EXISTS: service account {res.name} already exists")
            elif res.name not in self.accounts:
                raise Rejected(f"NOT_FOUND: {res.name}")
        if action == "delete":
            self.accounts.pop(res.name, None)
            self.policies = {p for p in self.policies if p[0] != res.name}
        else:
            self.accounts[res.name] = {"displayName": a.get("displayName")}

    def _repository(self, res, action, check):
        project = res.name.split("/")[1]
        if check:
            if not formats.is_name("repository", res.name):
                raise Rejected(f"invalid repository name {res.name!r}")
            if action == "create":
                self._require_api(project, "repository")
                if res.name in self.repositories:
                    raise Rejected(f"ALREADY_EXISTS: the repository {res.name} already exists")
            elif res.name not in self.repositories:
                raise Rejected(f"NOT_FOUND: {res.name}")
        if action == "delete":
            self.repositories.pop(res.name, None)
            _, p, _, loc, _, repo = res.name.split("/")
            prefix = f"{loc}-docker.pkg.dev/{p}/{repo}/"
            self.images = {k: v for k, v in self.images.items() if not k.startswith(prefix)}
            self.policies = {x for x in self.policies if x[0] != res.name}
        else:
            self.repositories[res.name] = {k: res.attrs.get(k) for k in ("format", "description")}

    def _bucket(self, res, action, check):
        a = res.attrs
        if check:
            if not formats.is_bucket_name(res.name):
                raise Rejected(f"Invalid bucket name: {res.name!r} (cloud.google.com/storage/docs/naming-buckets)")
            if action == "create":
                self._require_api(a["project"], "bucket")
                if res.name in self.buckets:
                    raise Rejected(f"Your previous request to create the named bucket succeeded and you "
                                   f"already own it ({res.name}): 409")
            elif res.name not in self.buckets:
                raise Rejected(f"NOT_FOUND: bucket {res.name}")
            if action == "delete" and res.name in self.staged and not a.get("forceDestroy"):
                raise Rejected(f"The bucket you tried to delete is not empty ({res.name}): 409")
        if action == "delete":
            self.buckets.pop(res.name, None)
            self.staged.discard(res.name)
            self.policies = {p for p in self.policies if p[0] != f"b/{res.name}"}
        else:
            kept = {k: v for k, v in a.items() if k != "forceDestroy" and v is not None}
            self.buckets[res.name] = {**self.buckets.get(res.name, {}), **kept}

    def _build(self, res, action, check):
        if action == "delete":
            return
        if check:
            self._require_api(res.attrs["project"], "build")
            runs_as = self._check_build_account(res.attrs)
            self._check_build_source(res.attrs, runs_as)
            for tag in res.attrs["tags"]:
                repo = image_repository(tag)
                if repo is None:
                    raise Rejected(f"{tag} is not an Artifact Registry image")
                self._require_api(repo.split("/")[1], "repository")
                if repo not in self.repositories:
                    raise Rejected(f"push of {tag} failed: name unknown: repository {repo} not found")
                if not self.may(runs_as, "artifactregistry.repositories.uploadArtifacts", repo):
                    raise Rejected(f"push of {tag} failed: denied: Permission \"artifactregistry.repositories."
                                   f"uploadArtifacts\" denied on resource \"{repo}\" for {runs_as}")
            if res.attrs.get("logging") != "NONE" and not self.may(
                    runs_as, "logging.logEntries.create", f"projects/{res.attrs['project']}"):
                raise Rejected(f"the build's account {runs_as} may not write its logs (logging.logEntries.create)")
        self.push(*res.attrs["tags"])
        self.staged.add(_staging_bucket(res.attrs))

    def _check_build_source(self, a, runs_as):
        """The build's account fetches the uploaded source: it reads the staging bucket, which
        must exist before the build, since gcloud would create a missing one itself (in the
        US multi-region, with the project's defaults), and which no deploy can grant on before
        it exists."""
        bucket = _staging_bucket(a)
        if a.get("source") is None:
            raise Rejected(f"the build's source goes to gcloud's default gs://{bucket}, created on the first "
                           f"build, where {runs_as} has no read (storage.objects.get): pass "
                           "--gcs-source-staging-dir=gs://BUCKET/source of a bucket the deploy creates")
        if bucket not in self.buckets:
            raise Rejected(f"the build's staging bucket gs://{bucket} does not exist before the build: "
                           "gcloud would create it in the US multi-region, outside the deployment")
        if not self.may(runs_as, "storage.objects.get", f"b/{bucket}"):
            raise Rejected(f"{runs_as} does not have storage.objects.get access to the Google Cloud Storage "
                           f"object gs://{bucket}/source: the build cannot fetch its source")

    def _check_build_account(self, a):
        """The member a deploy's build runs as: its own account, which must exist, with its logs
        where the API takes them from a user-specified account; never the project's default
        build identity."""
        account = a.get("serviceAccount")
        if account is None:
            raise Rejected("the build runs as the project's default build identity: pass --service-account")
        m = BUILD_ACCOUNT.fullmatch(account)
        if m is None:
            raise Rejected(f"INVALID_ARGUMENT: serviceAccount {account!r} is not "
                           "projects/{PROJECT_ID}/serviceAccounts/{ACCOUNT}")
        email = m["account"]
        if f"projects/{m['project']}/serviceAccounts/{email}" not in self.accounts:
            raise Rejected(f"INVALID_ARGUMENT: service account {email} does not exist")
        if not (a.get("logsBucket") or a.get("logging") in USER_ACCOUNT_LOGGING
                or a.get("defaultLogsBucketBehavior") == "REGIONAL_USER_OWNED_BUCKET"):
            raise Rejected("INVALID_ARGUMENT: if 'build.service_account' is specified, the build must either "
                           "(a) specify 'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
                           "build.options.default_logs_bucket_behavior option, or (c) use either "
                           "CLOUD_LOGGING_ONLY / NONE logging options")
        return f"serviceAccount:{email}"

    def _binding(self, res, action, check):
        a = res.attrs
        key = (a["resource"], a["role"], a["member"])
        if check:
            self._check_binding(a["resource"], a["role"], a["member"])
        if action == "delete":
            self.policies.discard(key)
        else:
            self.policies.add(key)

    def _check_binding(self, resource, role, member):
        kind, project = self._target(resource)
        # The calls are billed to (and need the API in) the deploy's project, wherever the
        # target lives.
        project = project or self.project
        if kind in API_OF:
            self._require_api(project, kind)
        exists = {
            "account": lambda: resource in self.accounts,
            "secret": lambda: resource in self.secrets,
            "bucket": lambda: resource.removeprefix("b/") in self.buckets,
            "folder": lambda: resource in self.folders,
            "repository": lambda: resource in self.repositories,
            "service": lambda: resource in self.services,
            "project": lambda: True,
        }[kind]
        if not exists():
            raise Rejected(f"NOT_FOUND: {resource} does not exist (setting its IAM policy)")
        if not formats.is_member(member):
            raise Rejected(f"INVALID_ARGUMENT: Invalid principal {member!r} in the policy of {resource}")
        m = PRINCIPAL_SET.fullmatch(member)
        if member.startswith("principalSet://") and not (m and m["number"] == self.number and (
                f"projects/{self.project}/locations/{m['loc']}/workloadIdentityPools/{m['pool']}" in self.pools)):
            raise Rejected(f"INVALID_ARGUMENT: Identity Pool does not exist ({member})")
        if not re.fullmatch(r"roles/[\w.]+|projects/[^/]+/roles/[\w.]+", role):
            raise Rejected(f"INVALID_ARGUMENT: Role {role} is not supported")
        # IAM refuses a service account of a project it knows that does not exist.
        email = member.removeprefix("serviceAccount:")
        name = f"projects/{self.project}/serviceAccounts/{email}"
        if member == f"serviceAccount:{email}" and email.endswith(f"@{self.project}.iam.gserviceaccount.com") \
                and name not in self.accounts:
            raise Rejected(f"INVALID_ARGUMENT: Service account {email} does not exist")

    @staticmethod
    def _target(resource):
        for kind in ("account", "secret", "repository", "service"):
            m = formats.name_pattern(kind).fullmatch(resource)
            if m:
                return kind, m[1]
        if formats.is_name("folder", resource):
            return "folder", None
        if re.fullmatch(r"b/" + formats.BUCKET.pattern, resource):
            return "bucket", None
        if re.fullmatch(r"projects/[^/]+", resource):
            return "project", resource.split("/")[1]
        raise Rejected(f"INVALID_ARGUMENT: {resource!r} is not a resource name the IAM API accepts")

    def _monitoring(self, res, action, check):
        if check and action == "create":
            self._require_api(res.attrs["project"], "monitoring")
        if action == "delete":
            self.monitoring.pop(res.name, None)
        else:
            self.monitoring[res.name] = {"project": res.attrs["project"]}

    def _pool(self, res, action, check):
        a = res.attrs
        pool = res.name.split("/providers/")[0]
        if check and action == "create":
            self._require_api(a["project"], "pool")
            if res.name in self.pools or res.name in self.deleted_pools:
                raise Rejected(f"ALREADY_EXISTS: {res.name}")
            if pool != res.name and pool not in self.pools:
                raise Rejected(f"NOT_FOUND: workload identity pool {pool} (creating its provider)")
        if check and action == "undelete" and res.name not in self.deleted_pools:
            raise Rejected(f"NOT_FOUND: no deleted workload identity pool {res.name}")
        within = {n for n in [*self.pools, *self.deleted_pools] if n == res.name or n.startswith(res.name + "/")}
        if action == "delete":
            self.deleted_pools.update({n: v for n, v in self.pools.items() if n in within})
            self.pools = {n: v for n, v in self.pools.items() if n not in within}
        elif action == "undelete":  # back with its providers
            self.pools.update({n: v for n, v in self.deleted_pools.items() if n in within})
            self.deleted_pools = {n: v for n, v in self.deleted_pools.items() if n not in within}
        else:
            self.pools[res.name] = {k: v for k, v in a.items() if k != "project"}

    def _trigger(self, res, action, check):
        if check:
            if not formats.is_name("trigger", res.name):
                raise Rejected(f"invalid trigger name {res.name!r}")
            if action == "create":
                self._require_api(res.name.split("/")[1], "trigger")
                if res.name in self.triggers:
                    raise Rejected(f"ALREADY_EXISTS: trigger {res.name} already exists")
            elif res.name not in self.triggers:
                raise Rejected(f"NOT_FOUND: {res.name}")
            if action != "delete":
                self._check_trigger(res.attrs)
        if action == "delete":
            self.triggers.pop(res.name, None)
        elif action == "update":
            # An update patches: what it does not send (the description) stays.
            self.triggers[res.name] = {**self.triggers.get(res.name, {}), **copy.deepcopy(res.attrs)}
        else:
            self.triggers[res.name] = copy.deepcopy(res.attrs)

    def _check_trigger(self, t):
        """What CreateBuildTrigger refuses of a GitHub push trigger that runs a build file."""
        if not formats.TRIGGER_NAME.fullmatch(t["name"]):
            raise Rejected(f"INVALID_ARGUMENT: trigger name {t['name']!r}: alphanumeric characters and dashes, "
                           "1-64, beginning and ending with an alphanumeric character")
        m = formats.TRIGGER_ACCOUNT.fullmatch(t.get("serviceAccount") or "")
        if t.get("serviceAccount") is not None:
            if m is None:
                raise Rejected(f"INVALID_ARGUMENT: serviceAccount {t['serviceAccount']!r} is not "
                               "projects/{PROJECT_ID}/serviceAccounts/{ACCOUNT_ID_OR_EMAIL}")
            email = m[2] if "@" in m[2] else f"{m[2]}@{m[1]}.iam.gserviceaccount.com"
            if f"projects/{m[1]}/serviceAccounts/{email}" not in self.accounts:
                raise Rejected(f"INVALID_ARGUMENT: service account {email} does not exist")
        if not t.get("filename"):
            raise Rejected("INVALID_ARGUMENT: the trigger names no build config file (filename)")
        github = t.get("github") or {}
        branch = (github.get("push") or {}).get("branch")
        if not (github.get("owner") and github.get("name") and branch):
            raise Rejected(f"INVALID_ARGUMENT: a GitHub push trigger needs owner, name and push.branch: {github}")
        try:
            re.compile(branch)
        except re.error as e:
            raise Rejected(f"INVALID_ARGUMENT: push.branch {branch!r} is not a regular expression: {e}") from e

    def _service(self, res, action, check, new_revision=False, no_traffic=False, tag=None, **update):
        if action == "traffic":
            return self._update_traffic(res.name, **update)
        if action == "delete":
            if check:
                if res.name not in self.services:
                    raise Rejected(f"NOT_FOUND: {res.name}")
                if self.services[res.name]["deletionProtection"]:
                    raise Rejected(f"cannot destroy service {res.name} without setting "
                                   "deletion_protection=false and running apply")
            self.services.pop(res.name, None)
            self.policies = {p for p in self.policies if p[0] != res.name}
            return
        config = copy.deepcopy(res.attrs["config"])
        declared = config.pop("traffic", None)
        if check:
            self._check_service(res.name, config, action)
        digest = self.resolve(config["template"]["containers"][0]["image"])
        old = self.services.get(res.name)
        revision = 1 if old is None else old["revision"] + int(
            new_revision or old["config"] != config or old["digest"] != digest)
        revisions = dict(old["revisions"]) if old else {}
        latest = old["latest"] if old else None
        if old is None or revision != old["revision"]:
            latest = config["template"].get("revision") or f"{res.name.rsplit('/', 1)[1]}-{revision:05d}"
            if latest in revisions:  # revisions are immutable, their names never reused
                raise Rejected(f"Revision named '{latest}' with different configuration already exists.")
            revisions[latest] = config["template"]
        traffic = self._traffic(declared, revisions, latest, old and old["traffic"], no_traffic, tag)
        self.services[res.name] = {"config": config, "digest": digest, "revision": revision,
                                   "revisions": revisions, "latest": latest, "traffic": traffic,
                                   "deletionProtection": res.attrs.get("deletionProtection", False)}

    @staticmethod
    def _traffic(declared, revisions, latest, old, no_traffic, tag):
        """Where requests go after a deploy: the declared targets (none declared: all to the
        latest revision, the provider's default), or gcloud's: `--no-traffic` keeps the split,
        `--tag` moves a tag to the new revision."""
        if declared is None:
            split = dict(old["split"]) if no_traffic else {latest: 100}
            tags = {t: r for t, r in (old or {}).get("tags", {}).items() if t != tag}
            return _traffic_state(split, {**tags, **({tag: latest} if tag else {})})
        split, tags = {}, {}
        for t in declared:
            name = latest if t.get("type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" else t.get("revision")
            if name not in revisions:
                raise Rejected(f"Revision '{name}' referenced in traffic not found")
            if t.get("percent"):
                split[name] = split.get(name, 0) + t["percent"]
            if t.get("tag"):
                if t["tag"] in tags:
                    raise Rejected(f"tag '{t['tag']}' is used by more than one traffic target")
                tags[t["tag"]] = name
        if sum(split.values()) != 100:
            raise Rejected(f"traffic percents add up to {sum(split.values())}, not 100")
        return _traffic_state(split, tags)

    def _update_traffic(self, name, to_revisions=None, to_tags=None, update_tags=None):
        """gcloud's `update-traffic`: the named revisions (or tagged ones) get their percents;
        when those make 100, every other revision gets none."""
        s = self.services.get(name)
        if s is None:
            raise Rejected(f"NOT_FOUND: {name}")
        percents = dict(to_revisions or {})
        for t, p in (to_tags or {}).items():
            if t not in s["traffic"]["tags"]:
                raise Rejected(f"no revision is tagged '{t}'")
            percents[s["traffic"]["tags"][t]] = percents.get(s["traffic"]["tags"][t], 0) + p
        tags = {**s["traffic"]["tags"], **(update_tags or {})}
        for r in [*percents, *tags.values()]:
            if r not in s["revisions"]:
                raise Rejected(f"Revision '{r}' referenced in traffic not found")
        split = s["traffic"]["split"]
        if percents:
            if sum(percents.values()) != 100:
                raise NotModelled("update-traffic that leaves a share to unnamed revisions")
            split = {r: p for r, p in percents.items() if p}
        s["traffic"] = _traffic_state(split, tags)

    def _check_service(self, name, config, action):
        if not formats.is_name("service", name):
            raise Rejected(f"invalid service name {name!r}")
        _, project, _, region, _, _ = name.split("/")
        self._require_api(project, "service")
        if action == "create" and name in self.services:
            raise Rejected(f"ALREADY_EXISTS: {name}")
        template = config["template"]
        account = template.get("serviceAccount")
        if not formats.EMAIL.fullmatch(account or ""):
            raise Rejected(f"template.serviceAccount must be the email address of the account, got {account!r}")
        if account.endswith(f"@{project}.iam.gserviceaccount.com") and \
                f"projects/{project}/serviceAccounts/{account}" not in self.accounts:
            raise Rejected(f"Service account {account} does not exist")
        runtime = f"serviceAccount:{account}"
        (container,) = template["containers"]
        self._check_image(container["image"], project)
        for env in container.get("envs", []):
            ref = (env.get("valueSource") or {}).get("secretKeyRef")
            if ref:
                self._check_secret(ref["secret"], project, account, runtime)
        for volume in template.get("volumes", []):
            self._check_volume(volume["name"], volume["gcs"], account)
        accelerator = (template.get("nodeSelector") or {}).get("accelerator")
        if accelerator:
            gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
            if self.gpu_quota.get(region, 0) < gpus:
                raise Rejected(f"Quota exceeded for total allowable count of GPUs per project per region "
                               f"({accelerator}) in {region}: request a quota increase")

    def _check_volume(self, name, gcs, account):
        """The runtime account reads what the mount shows: the whole bucket, or with `only-dir`
        the folder, where a grant on its managed folder is enough."""
        bucket = gcs["bucket"]
        if bucket not in self.buckets:
            raise Rejected(f"Cloud Storage bucket {bucket} for volume {name} does not exist")
        readable = [f"b/{bucket}"]
        options = dict(o.partition("=")[::2] for o in gcs.get("mountOptions", []))
        if options.get("only-dir"):
            readable.append(f"b/{bucket}/managedFolders/{options['only-dir'].strip('/')}/")
        if not self.may(f"serviceAccount:{account}", "storage.objects.get", *readable):
            raise Rejected(f"Permission denied on {' or '.join(readable)} for Revision service account {account}")

    def _check_image(self, image, project):
        if self.resolve(image) is None:
            raise Rejected(f"Image '{image}' not found.")
        repo = image_repository(image)
        if repo.split("/")[1] != project and not self.may(
                service_agent(self.number), "artifactregistry.repositories.downloadArtifacts", repo):
            raise Rejected(f"Cloud Run Service Agent {service_agent(self.number)} must have permission "
                           f"to read the image {image}")

    def _check_secret(self, secret, project, account, runtime):
        name = secret if secret.startswith("projects/") else f"projects/{project}/secrets/{secret}"
        if not formats.is_name("secret", name):
            raise Rejected(f"secretKeyRef.secret {secret!r} is not a secret name or resource name")
        if name not in self.secrets:
            raise Rejected(f"Secret {name} was not found")
        if not self.may(runtime, "secretmanager.versions.access", name):
            raise Rejected(f"Permission denied on secret: {name} for Revision service account {account}")

    # --- what the deploy left --------------------------------------------------------

    def deployer_gaps(self, member, service, account, repository):
        """The permissions a deployer lacks, as (resource, permission)."""
        wanted = [(account, DEPLOY_PERMISSIONS["account"]), (service, DEPLOY_PERMISSIONS["service"])]
        if repository:
            wanted.append((repository, DEPLOY_PERMISSIONS["repository"]))
        return [(r, p) for r, p in wanted if not self.may(member, p, r)]

    def end_state(self):
        """Everything a deploy leaves, in one comparable value (revisions and the deletion
        protection flag aside: gcloud keeps no such flag, and counts revisions its own way)."""
        services = {}
        for name, s in self.services.items():
            config = copy.deepcopy(s["config"])
            container = config["template"]["containers"][0]
            m = AR_IMAGE.fullmatch(container["image"])
            # Compared by what runs: a tag and the digest it named at deploy time are one image.
            container["image"] = f"{m['loc']}-docker.pkg.dev/{m['project']}/{m['repo']}/{m['image']}@{s['digest']}"
            services[name] = config
        return copy.deepcopy({
            "apis": {p: sorted(a) for p, a in self.apis.items() if a},
            "accounts": self.accounts,
            "repositories": self.repositories,
            "images": self.images,
            "services": services,
            "monitoring": self.monitoring,
            "buckets": {n: {k: v for k, v in a.items() if k != "labels"} for n, a in self.buckets.items()},
            "pools": self.pools,
            "triggers": self.triggers,
            "policies": sorted(self.policies),
        })


def _staging_bucket(build):
    """The bucket a build's source is uploaded to: `--gcs-source-staging-dir`'s, or gcloud's
    default, PROJECT_cloudbuild (staging_bucket_util.GetDefaultStagingBucket)."""
    source = build.get("source")
    if source is None:
        return build["project"].replace(":", "_").replace(".", "_").replace("google", "elgoog") + "_cloudbuild"
    return source.removeprefix("gs://").split("/", 1)[0]


def _traffic_state(split, tags):
    """Traffic as the cloud holds it, in name order: the order calls set it in is no change."""
    return {"split": dict(sorted(split.items())), "tags": dict(sorted(tags.items()))}

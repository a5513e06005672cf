"""The Google provider's resources (Terraform google, and pulumi-gcp which bridges it) as
control-plane resources: `resource(kind, attrs)` takes the provider's arguments, camelCase
(Pulumi's wire names; Terraform's snake_case converted) and returns a project.Res.

The monitoring resources are held by their display name only: their documents are proven
by test_monitoring.py; here they count as objects of the Monitoring API, created after it.
"""

import json

from controlplane import formats, service
from controlplane.project import NotModelled, Rejected, Res, binding, bucket, trigger

TERRAFORM = {
    "google_project_service": "api",
    "google_service_account": "account",
    "google_artifact_registry_repository": "repository",
    "google_storage_bucket": "bucket",
    "google_cloud_run_v2_service": "service",
    "google_secret_manager_secret_iam_member": "secret_member",
    "google_storage_bucket_iam_member": "bucket_member",
    "google_service_account_iam_member": "account_member",
    "google_cloud_run_v2_service_iam_member": "service_member",
    "google_artifact_registry_repository_iam_member": "repository_member",
    "google_project_iam_member": "project_member",
    "google_storage_managed_folder_iam_member": "folder_member",
    "google_monitoring_notification_channel": "notificationChannels",
    "google_monitoring_alert_policy": "alertPolicies",
    "google_monitoring_uptime_check_config": "uptimeCheckConfigs",
    "google_monitoring_dashboard": "dashboards",
    "google_iam_workload_identity_pool": "pool",
    "google_iam_workload_identity_pool_provider": "pool_provider",
    "google_cloudbuild_trigger": "trigger",
}
PULUMI = {
    "gcp:projects/service:Service": "api",
    "gcp:serviceaccount/account:Account": "account",
    "gcp:artifactregistry/repository:Repository": "repository",
    "gcp:storage/bucket:Bucket": "bucket",
    "gcp:cloudrunv2/service:Service": "service",
    "gcp:secretmanager/secretIamMember:SecretIamMember": "secret_member",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "bucket_member",
    "gcp:serviceaccount/iAMMember:IAMMember": "account_member",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": "service_member",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": "repository_member",
    "gcp:projects/iAMMember:IAMMember": "project_member",
    "gcp:storage/managedFolderIamMember:ManagedFolderIamMember": "folder_member",
    "gcp:monitoring/notificationChannel:NotificationChannel": "notificationChannels",
    "gcp:monitoring/alertPolicy:AlertPolicy": "alertPolicies",
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": "uptimeCheckConfigs",
    "gcp:monitoring/dashboard:Dashboard": "dashboards",
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": "pool",
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": "pool_provider",
    "gcp:cloudbuild/trigger:Trigger": "trigger",
}
# Monitoring collections (monitoring/v3 resources.py), the kinds above that name one.
MONITORING = {"notificationChannels", "alertPolicies", "uptimeCheckConfigs", "dashboards"}


def kind_of(table, rtype):
    kind = table.get(rtype)
    if kind is None:
        raise NotModelled(f"the control plane does not model {rtype}: add it to controlplane/provider.py")
    return kind


def _full(value, template):
    """The provider takes a short id or the full resource name."""
    return value if value.startswith("projects/") else template


def _account_link(value):
    # verify.ServiceAccountLinkRegex, checked by the provider before any call.
    if not formats.PROVIDER_SERVICE_ACCOUNT_LINK.fullmatch(value or ""):
        raise Rejected(f"service_account_id ({value!r}) doesn't match the provider's ServiceAccountLinkRegex "
                       "projects/{project}/serviceAccounts/{email}")
    return value


MEMBER_TARGETS = {
    "secret_member": lambda a: _full(a["secretId"], f"projects/{a.get('project')}/secrets/{a['secretId']}"),
    "bucket_member": lambda a: "b/" + a["bucket"].removeprefix("b/"),
    "account_member": lambda a: _account_link(a["serviceAccountId"]),
    "service_member": lambda a: _full(
        a["name"], f"projects/{a.get('project')}/locations/{a.get('location')}/services/{a['name']}"),
    "repository_member": lambda a: _full(
        a["repository"], f"projects/{a.get('project')}/locations/{a.get('location')}/repositories/{a['repository']}"),
    "project_member": lambda a: f"projects/{a['project']}",
    "folder_member": lambda a: f"b/{a['bucket']}/managedFolders/{a['managedFolder']}",
}


def _pool_name(project, a):
    """Pools are global; the API names them by project id, the provider's `name` by number."""
    return f"projects/{project}/locations/global/workloadIdentityPools/{a['workloadIdentityPoolId']}"


def _monitoring_name(kind, a):
    display = json.loads(a["dashboardJson"])["displayName"] if kind == "dashboards" else a["displayName"]
    return f"projects/{a['project']}/{kind}/{display}"


def resource(kind, a):
    if kind == "api":
        return Res("api", f"projects/{a['project']}/services/{a['service']}",
                   {"project": a["project"], "service": a["service"],
                    "disable_on_destroy": a.get("disableOnDestroy", True)})
    if kind == "account":
        email = f"{a['accountId']}@{a['project']}.iam.gserviceaccount.com"
        return Res("account", f"projects/{a['project']}/serviceAccounts/{email}",
                   {"project": a["project"], "accountId": a["accountId"], "displayName": a.get("displayName")})
    if kind == "repository":
        return Res("repository", f"projects/{a['project']}/locations/{a['location']}/repositories/{a['repositoryId']}",
                   {"format": a["format"], "description": a.get("description")})
    if kind == "bucket":
        # Terraform's one lifecycle_rule block is an object, Pulumi's lifecycleRules a list.
        rules = a.get("lifecycleRules") or ([a["lifecycleRule"]] if "lifecycleRule" in a else [])
        return bucket(a["name"], a["project"], a["location"], a.get("uniformBucketLevelAccess", False),
                      a.get("publicAccessPrevention", "inherited"), rules, a.get("forceDestroy", False))
    if kind == "service":
        return Res("service", f"projects/{a['project']}/locations/{a['location']}/services/{a['name']}",
                   {"config": service.canonical(a), "deletionProtection": a.get("deletionProtection", True)})
    if kind in MONITORING:
        return Res("monitoring", _monitoring_name(kind, a), {"project": a["project"]})
    if kind == "pool":
        return Res("pool", _pool_name(a["project"], a), {"project": a["project"], "displayName": a.get("displayName"),
                                                         "description": a.get("description")})
    if kind == "pool_provider":
        return Res("pool", f"{_pool_name(a['project'], a)}/providers/{a['workloadIdentityPoolProviderId']}",
                   {"project": a["project"], "attributeMapping": a.get("attributeMapping"),
                    "attributeCondition": a.get("attributeCondition")})
    if kind == "trigger":
        return trigger(a["project"], a.get("location", "global"), a)
    return binding(MEMBER_TARGETS[kind](a), a["role"], a["member"])


def outputs(kind, a, number):
    """What the provider computes once a resource exists (the mocks' and Terraform's view)."""
    out = dict(a)
    if kind == "account":
        email = f"{a['accountId']}@{a['project']}.iam.gserviceaccount.com"
        name = f"projects/{a['project']}/serviceAccounts/{email}"
        out.update(email=email, member=f"serviceAccount:{email}", name=name, id=name, uniqueId="1" * 21)
    elif kind == "service":
        name = f"projects/{a['project']}/locations/{a['location']}/services/{a['name']}"
        out.update(id=name, uri=f"https://{a['name']}-{number}.{a['location']}.run.app")
    elif kind == "repository":
        out.update(id=f"projects/{a['project']}/locations/{a['location']}/repositories/{a['repositoryId']}",
                   name=a["repositoryId"],
                   registryUri=f"{a['location']}-docker.pkg.dev/{a['project']}/{a['repositoryId']}")
    elif kind in MONITORING:
        out.update(name=_monitoring_name(kind, a))
    elif kind == "pool":
        out.update(name=_pool_name(number, a))

    return out

{%- if let Some(ci) = d.ci %}

# The deploy pipeline's cloud side ({{ ci.repository }}, branch {{ ci.branch }}): the account it
# deploys as, with only what a deploy needs.
ci_apis = [
    gcp.projects.Service(
        f"ci-{api}",
        project=PROJECT,
        service=api,
        disable_on_destroy=False,
    )
    for api in [
{%- for api in ci.apis %}
        "{{ api }}",
{%- endfor %}
    ]
]
ci_account = gcp.serviceaccount.Account(
    "ci",
    project=PROJECT,
    account_id="{{ ci.account.account_id }}",
    display_name="{{ ci.account.display_name }}",
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- for g in crate::render::ci::pulumi_grants(ci) %}
{{ g.class }}(
    "{{ g.key }}",
{%- for a in g.args %}
    {{ a.name }}={% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r }}{% endmatch %},
{%- endfor %}
    role="{{ g.role }}",
    member=ci_account.member,
)
{%- endfor %}
{%- if let Some(f) = ci.federation %}

# GitHub Actions runs of {{ ci.repository }} on {{ ci.branch }} act as the account: no key exists.
# Pool ids stay reserved for 30 days after deletion.
ci_pool = gcp.iam.WorkloadIdentityPool(
    "ci",
    project=PROJECT,
    workload_identity_pool_id="{{ f.pool_id }}",
    display_name="{{ f.pool_display_name }}",
    description="{{ f.pool_description }}",
    opts=pulumi.ResourceOptions(depends_on=[*apis, *ci_apis]),
)
ci_provider = gcp.iam.WorkloadIdentityPoolProvider(
    "ci",
    project=PROJECT,
    workload_identity_pool_id=ci_pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="{{ f.provider_id }}",
    attribute_mapping={
{%- for (attribute, assertion) in f.attribute_mapping %}
        "{{ attribute }}": "{{ assertion }}",
{%- endfor %}
    },
    attribute_condition="{{ f.attribute_condition }}",
    oidc={"issuer_uri": "{{ f.issuer_uri }}"},
)
gcp.serviceaccount.IAMMember(
    "ci_federated",
    service_account_id=ci_account.name,
    role="roles/iam.workloadIdentityUser",
    # The pool's name is projects/NUMBER/locations/global/workloadIdentityPools/POOL.
    member=ci_pool.name.apply(
        lambda pool: f"principalSet://iam.googleapis.com/{pool}/{{ f.principal_suffix }}"
    ),
)
pulumi.export("ci_workload_identity_provider", ci_provider.name)
{%- endif %}
{%- if let Some(t) = ci.trigger %}

# Runs the pipeline on each push; connect the repository to Cloud Build once before.
gcp.cloudbuild.Trigger(
    "ci",
    project=PROJECT,
    location="global",
    name="{{ t.name }}",
    description="{{ t.description }}",
    filename="{{ t.filename }}",
    service_account=ci_account.id,
    github={
        "owner": "{{ ci.owner }}",
        "name": "{{ ci.name }}",
        "push": {"branch": "{{ ci.branch_regex }}"},
    },
    approval_config={"approval_required": {% if t.approval_required %}True{% else %}False{% endif %}},
    opts=pulumi.ResourceOptions(depends_on=[*apis, *ci_apis]),
)
{%- endif %}
pulumi.export("ci_service_account", ci_account.email)
{%- endif %}

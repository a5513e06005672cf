
{%- match grant.target %}
{%- when IamTarget::Secret %}
    gcp.secretmanager.SecretIamMember(
        "{{ grant.key }}",
        project=PROJECT,
        secret_id="{{ grant.resource }}",
{%- when IamTarget::Bucket %}
    gcp.storage.BucketIAMMember(
        "{{ grant.key }}",
        bucket="{{ grant.resource }}",
{%- when IamTarget::ServiceAccount %}
    gcp.serviceaccount.IAMMember(
        "{{ grant.key }}",
        service_account_id=runtime_account.name,
{%- when IamTarget::Service %}
    gcp.cloudrunv2.ServiceIamMember(
        "{{ grant.key }}",
        project=service.project,
        location=service.location,
        name=service.name,
{%- endmatch %}
        role="{{ grant.role }}",
{%- if grant.member_is_runtime %}
        member=runtime_account.member,
{%- else %}
        member="{{ grant.member }}",
{%- endif %}
    ),

"""A simulated Google Cloud control plane that the generated deployments are replayed against.

`project.Cloud` holds the state of the projects a deploy touches (APIs, service accounts,
repositories and their images, Cloud Run services, IAM policies, and the prerequisites mlgen
cannot create: secrets, buckets, GPU quota) and refuses what the real APIs would refuse on a
first deploy. Each target is replayed into it the way its tool would act:

- terraform.py: the resource graph of the generated .tf (references and `depends_on`);
- pulumi.py: the registrations of a mocked `pulumi up` with their dependencies;
- gcloud.py: the calls the scripts made to the stand-in gcloud, in order.

builds.py models the image build every target runs and the read of the digest it pushed, which
the service runs. engine.py runs the declarative targets (plan against the previous state, apply in dependency
order, destroy in reverse); formats.py holds the identifier formats, read from the API
definitions shipped with the installed gcloud SDK and from the provider's validations.
"""

"""Specs for the IAM tests shared by the three targets."""

# An image in another project's Artifact Registry: this project's Cloud Run service agent
# must be granted read on that repository before the service is deployed. The model is in
# a folder of its bucket, read through a managed folder and mounted alone.
CROSS_PROJECT = '''
[service]
name = "shared-image"
project = "p-consumer"
region = "europe-west1"
deletion_protection = false

[model]
framework = "onnx"
source = "gs://models-b/team/v2/model.onnx"
features = ["a"]

[container]
python = "3.12"

[image]
url = "europe-west1-docker.pkg.dev/p-images/base/scorer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

[resources]
cpu = 1
memory = "2Gi"

[service_account]
account_id = "shared-image-run"

[access]
invokers = ["user:caller@example.com"]
'''

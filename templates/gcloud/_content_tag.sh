# The image's content tag, run in the build context: the SHA-256 of the hex SHA-256 digests
# of the files the image is built from, in this order, a folder (ending in `/`) as every file
# under it in path order. Terraform and Pulumi compute the same.
content_tag() {
  local f
  for f in \
{%- for f in inputs %}
    {{ f }}{% if !loop.last %} \{% else %}; do{% endif %}
{%- endfor %}
    case "$f" in
      */) find "${f%/}" -type f | LC_ALL=C sort ;;
      *) printf '%s\n' "$f" ;;
    esac
  done | while IFS= read -r f; do sha256 <"$f"; done | tr -d '\n' | sha256
}

{% include "gcloud/_sha256.sh" %}

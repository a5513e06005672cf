
    {{ grant.class }}(
        "{{ grant.key }}",
{%- for a in grant.args %}
        {{ a.name }}={% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r|safe }}{% endmatch %},
{%- endfor %}
    ),

"""The canary's facts as the model states them (`mlgen model`'s `rollout`), for the tests
that check each target against them."""

import hashlib


def revision_name(model, key):
    """The revision a deploy creates: the model's prefix, then the first `suffix_len` hex
    characters of SHA-256(key + template_hash); `key` is the image's content tag (built here)
    or its reference (built elsewhere)."""
    r = model["rollout"]["revision"]
    suffix = hashlib.sha256(f"{key}{r['template_hash']}".encode()).hexdigest()[: r["suffix_len"]]
    return r["prefix"] + suffix


def split(model, percent, stable, candidate):
    """{revision: percent} with the candidate at `percent`, as the model's splits say."""
    [s] = [s for s in model["rollout"]["splits"] if s["candidate"] == percent]
    out = {stable: 0, candidate: 0}
    out[stable] += s["stable"]
    out[candidate] += s["candidate"]
    return out

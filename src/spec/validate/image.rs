//! `[image]`: the Artifact Registry repository and tag to build into, or a whole image
//! reference to deploy instead.

use super::Checker;
use super::container::check_image_ref;
use super::ids::{is_image_name, is_repository_id, is_tag};
use crate::diagnostics::Diagnostic;
use crate::spec::Spec;

const ADD_REPOSITORY: &str = "`repository = \"ml-models\"` (an Artifact Registry repository, created in the service's region)";
const ADD_TAG: &str = "`tag = \"1.0.0\"` (a new tag makes a new revision)";

pub(super) fn check(c: &mut Checker, spec: &Spec) {
    let img = &spec.image;
    if let Some(url) = &img.url {
        check_image_ref(c, "image.url", url);
        for (key, v) in [
            ("image.repository", &img.repository),
            ("image.tag", &img.tag),
            ("image.name", &img.name),
        ] {
            if let Some(v) = v {
                c.err(
                    key,
                    v.span(),
                    "`image.url` names the whole image already".into(),
                    "remove this key, or remove `url` to build into Artifact Registry",
                );
            }
        }
        if let Some(v) = &img.repository_exists {
            c.err(
                "image.repository_exists",
                v.span(),
                "`image.url` names an image built elsewhere: nothing is pushed to a repository"
                    .into(),
                "remove this key, or remove `url` to build into an existing repository",
            );
        }
        return;
    }
    let Some(table) = spec.layout.table("image") else {
        c.out.push(
            Diagnostic::new("image", spec.layout.end(), "the spec has no `[image]` table")
                .label("it would go here")
                .help(format!(
                    "add the table `[image]` with {ADD_REPOSITORY} and {ADD_TAG}, or with `url = \"…\"` for an image built elsewhere"
                )),
        );
        return;
    };
    for (key, present, add) in [
        ("repository", img.repository.is_some(), ADD_REPOSITORY),
        ("tag", img.tag.is_some(), ADD_TAG),
    ] {
        if !present {
            c.out.push(
                Diagnostic::new(
                    format!("image.{key}"),
                    table.clone(),
                    format!("table `image` has no `{key}`"),
                )
                .label("in this table")
                .help(format!(
                    "add {add}, or `url = \"…\"` for an image built elsewhere"
                )),
            );
        }
    }
    check_values(c, spec);
}

fn check_values(c: &mut Checker, spec: &Spec) {
    let img = &spec.image;
    if let Some(repo) = &img.repository
        && !is_repository_id(repo.get_ref())
    {
        c.err(
            "image.repository",
            repo.span(),
            format!("`{}` is not a valid Artifact Registry repository id", repo.get_ref()),
            "use 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
        );
    }
    match &img.tag {
        Some(tag) if !is_tag(tag.get_ref()) => c.err(
            "image.tag",
            tag.span(),
            format!("`{}` is not a valid image tag", tag.get_ref()),
            "a tag has up to 128 letters, digits, `_`, `.` and `-`, and does not start with `.` or `-`",
        ),
        Some(tag) if tag.get_ref() == "latest" => c.err(
            "image.tag",
            tag.span(),
            "`latest` is a moving tag".to_string(),
            "use a version such as `1.0.0`: a new tag makes a new revision, and `plan` shows it",
        ),
        _ => {}
    }
    if let Some(n) = &img.name
        && !is_image_name(n.get_ref())
    {
        c.err(
            "image.name",
            n.span(),
            format!("`{}` is not a valid image name", n.get_ref()),
            "use lowercase letters and digits separated by single `.`, `_` or `-`",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{edited, keys, run, spec};
    use super::*;

    #[test]
    fn repository_and_tag_or_a_url() {
        assert!(keys(|c| check(c, &spec("tag", "tag"))).is_empty());
        let no_tag = spec("tag = \"1.0.0\"\n", "");
        assert_eq!(keys(|c| check(c, &no_tag)), ["image.tag"]);
        let both = spec("tag = \"1.0.0\"", "url = \"europe-docker.pkg.dev/p/r/i:1\"");
        assert_eq!(keys(|c| check(c, &both)), ["image.repository"]);
        let url = "url = \"europe-docker.pkg.dev/p/r/i:1\"\nrepository_exists = true";
        let shared = edited(&[
            ("repository = \"ml-models\"\n", ""),
            ("tag = \"1.0.0\"", url),
        ]);
        assert_eq!(keys(|c| check(c, &shared)), ["image.repository_exists"]);
        assert_eq!(
            keys(|c| check(c, &spec("\"1.0.0\"", "\"latest\""))),
            ["image.tag"]
        );
    }

    #[test]
    fn a_missing_table_is_one_problem_at_the_end() {
        let s = spec("[image]\nrepository = \"ml-models\"\ntag = \"1.0.0\"\n", "");
        let ds = run(|c| check(c, &s));
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].span, s.layout.end());
    }
}

//! `[ci]`: the repository, branch, folder and command of the deploy pipeline.
//!
//! Each value ends up inside a workflow, a Cloud Build config, an IAM attribute condition
//! and shell scripts, so the rules are GitHub's and git's own, narrowed to characters that
//! need no quoting in any of them.

use toml::Spanned;

use super::Checker;
use super::ids::is_safe_path;
use crate::spec::CiSpec;

pub(super) fn check(c: &mut Checker, ci: Option<&CiSpec>) {
    let Some(ci) = ci else {
        return;
    };
    rule(
        c,
        "ci.repository",
        &ci.repository,
        is_repository,
        "write the GitHub repository as `owner/name`: an owner of letters, digits and single hyphens (up to 39), a name of letters, digits, `.`, `_` and `-` (up to 100)",
    );
    rule(
        c,
        "ci.branch",
        &ci.branch,
        is_branch,
        "a branch name of letters, digits, `.`, `_`, `-` and `/`, as git allows it: no `..`, no `//`, no part starting with `.` or ending with `.lock`, e.g. `main` or `release/v2`",
    );
    rule(
        c,
        "ci.directory",
        &ci.directory,
        |d| d == "." || is_safe_path(d),
        "give the spec's folder relative to the repository root, e.g. `.` or `services/fraud`, with letters, digits, `.`, `_`, `-` and `/` and no `..`",
    );
    rule(
        c,
        "ci.mlgen",
        &ci.mlgen,
        is_command,
        "name the mlgen command as one word of letters, digits, `.`, `_`, `-` and `/`, e.g. `mlgen` or `./bin/mlgen`",
    );
}

fn rule(c: &mut Checker, key: &str, v: &Spanned<String>, ok: impl Fn(&str) -> bool, help: &str) {
    if !ok(v.get_ref()) {
        c.err(
            key,
            v.span(),
            format!("`{}` is not a valid {}", v.get_ref(), &key[3..]),
            help,
        );
    }
}

/// GitHub's rules for `owner/name`.
fn is_repository(s: &str) -> bool {
    let Some((owner, name)) = s.split_once('/') else {
        return false;
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && owner
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    let name_ok = (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    owner_ok && name_ok
}

/// git's ref name rules (`git check-ref-format --branch`) over a character set that is
/// literal in a workflow's branch filter, a Cloud Build branch regex once `.` is escaped,
/// and a shell word.
fn is_branch(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !s.starts_with('-')
        && !s.contains("..")
        && !s.ends_with('.')
        && s.split('/')
            .all(|p| !p.is_empty() && !p.starts_with('.') && !p.ends_with(".lock"))
}

fn is_command(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, spec};
    use super::*;

    fn problems(ci: &str) -> Vec<(String, String)> {
        let text = format!("[ci]\nprovider = \"github\"\n{ci}\n[service]");
        let s = spec("[service]", &text);
        run(|c| check(c, s.ci.as_ref()))
            .into_iter()
            .map(|d| (d.key, format!("{:?}", d.span)))
            .collect()
    }

    fn keys(ci: &str) -> Vec<String> {
        problems(ci).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_well_formed_table_passes() {
        assert!(keys("repository = \"acme/fraud-models\"").is_empty());
        assert!(
            keys("repository = \"a-b/x.y_z\"\nbranch = \"release/v2.1\"\ndirectory = \"svc/fraud\"\nmlgen = \"./bin/mlgen\"").is_empty()
        );
    }

    #[test]
    fn the_repository_must_be_owner_slash_name() {
        for bad in [
            "acme", "acme/", "/x", "a--b/x", "-a/x", "a/b/c", "a/..", "a/x y", "a/x'",
        ] {
            assert_eq!(
                keys(&format!("repository = \"{bad}\"")),
                ["ci.repository"],
                "{bad}"
            );
        }
    }

    #[test]
    fn branches_follow_git_and_stay_literal() {
        for bad in [
            "", "-x", "a..b", "a//b", "/a", "a/", ".a", "a/.b", "x.lock", "a.", "a b", "a*", "a~1",
            "a:b", "a[0]", "a'b", "a@{1}",
        ] {
            assert_eq!(
                keys(&format!("repository = \"a/b\"\nbranch = \"{bad}\"")),
                ["ci.branch"],
                "{bad}"
            );
        }
    }

    #[test]
    fn directory_and_command_are_plain_words() {
        let got = keys("repository = \"a/b\"\ndirectory = \"../x\"\nmlgen = \"mlgen; rm -rf /\"");
        assert_eq!(got, ["ci.directory", "ci.mlgen"]);
    }

    #[test]
    fn errors_point_at_the_value() {
        let (_, span) = &problems("repository = \"nope\"")[0];
        assert_ne!(span, "0..0");
    }
}

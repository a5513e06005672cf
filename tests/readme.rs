//! The README states facts about the code: which files `mlgen apply` writes, how many files
//! the plan benchmark plans, and what `plan --format json` prints. These tests fail when the
//! code moves and the README does not.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mlgen::pipeline;
use mlgen::spec::SourceFile;
use serde_json::Value;

#[path = "../benches/plan_many/specs.rs"]
mod plan_specs;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    fs::read_to_string(root().join("README.md")).unwrap()
}

/// The body of the first fenced block after `heading` whose opening line is `fence`.
fn block_after<'a>(text: &'a str, heading: &str, fence: &str) -> &'a str {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let open = format!("{fence}\n");
    let start = from
        + text[from..]
            .find(&open)
            .unwrap_or_else(|| panic!("no {fence} block after {heading:?}"))
        + open.len();
    let len = text[start..].find("```\n").expect("unclosed block");
    &text[start..start + len]
}

/// File paths of a `tree`-style listing: each level indents by four characters, a name
/// ending in `/` is a folder, and text after the name is a comment.
fn tree_files(block: &str) -> BTreeSet<String> {
    let mut folders: Vec<String> = Vec::new();
    let mut files = BTreeSet::new();
    for line in block.lines().skip(1) {
        let Some(at) = line.find("── ") else {
            panic!("not a tree line: {line:?}");
        };
        let depth = line[..at].chars().count() / 4;
        let name = line[at + "── ".len()..].split_whitespace().next().unwrap();
        folders.truncate(depth);
        match name.strip_suffix('/') {
            Some(folder) => folders.push(folder.to_string()),
            None => {
                files.insert(folders.iter().map(|f| format!("{f}/")).collect::<String>() + name);
            }
        }
    }
    files
}

/// Every file `mlgen apply` writes for some example: the rendered trees and the manifest.
fn generated_files() -> BTreeSet<String> {
    let mut files = BTreeSet::from([mlgen::manifest::FILE.to_string()]);
    for entry in fs::read_dir(root().join("examples")).unwrap() {
        let spec = entry.unwrap().path().join("mlgen.toml");
        let file = SourceFile {
            text: fs::read_to_string(&spec).unwrap(),
            path: spec,
        };
        let (_, tree) = pipeline::compile(&file).unwrap();
        files.extend(tree.iter().map(|(path, _)| path.to_string()));
    }
    files
}

#[test]
fn readme_tree_lists_every_generated_file() {
    let text = readme();
    let listed = tree_files(block_after(&text, "## What it generates", "```"));
    let generated = generated_files();
    assert_eq!(
        listed,
        generated,
        "the README's tree under \"What it generates\" differs from what the examples generate: \
         only in the README {:?}, only generated {:?}",
        listed.difference(&generated).collect::<Vec<_>>(),
        generated.difference(&listed).collect::<Vec<_>>()
    );
}

#[test]
fn tree_listing_nests_folders() {
    let block = "deploy/\n├── Dockerfile   a comment\n├── app/\n│   ├── main.py\n│   └── sub/\n│       └── x.json  text\n└── .hidden\n";
    let want = ["Dockerfile", "app/main.py", "app/sub/x.json", ".hidden"];
    assert_eq!(
        tree_files(block),
        want.iter().map(|s| s.to_string()).collect()
    );
}

/// `N` in a README sentence "... (N <what>" or ", N <what>", with thousands separators.
fn number_before(text: &str, what: &str) -> usize {
    let end = text
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {text:?}"));
    let digits: String = text[..end]
        .trim_end()
        .rsplit([' ', '('])
        .next()
        .unwrap()
        .replace(',', "");
    digits
        .parse()
        .unwrap_or_else(|_| panic!("not a number before {what:?}: {digits:?}"))
}

#[test]
fn readme_states_the_plan_benchmarks_file_count() {
    let text = readme().split_whitespace().collect::<Vec<_>>().join(" ");
    let at = text
        .find("`cargo bench --bench plan_many` (")
        .expect("README states the plan benchmark's figures");
    let sentence = &text[at..at + text[at..].find(')').unwrap()];
    assert_eq!(number_before(sentence, " varied specs"), plan_specs::SPECS);
    assert_eq!(
        number_before(sentence, " files"),
        plan_specs::file_count(),
        "the README's file count for `cargo bench --bench plan_many` is stale"
    );
}

#[test]
fn numbers_read_with_thousands_separators() {
    assert_eq!(number_before("(1,000 specs, 19,875 files", " files"), 19875);
    assert_eq!(number_before("(1,000 specs, 19,875 files", " specs"), 1000);
}

fn mlgen(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mlgen"))
        .args(["--color", "never"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlgen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Objects as their keys in order, arrays as their first element, values as their type.
fn shape(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", shape(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.first().map(shape).unwrap_or_default()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

/// The worked example's change (memory 2Gi to 3Gi) as `plan --format json` prints it.
fn real_json_plan() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    fs::create_dir(&svc).unwrap();
    mlgen(&svc, &["init"]);
    // mlgen refuses a spec whose model file is missing: put one where the starter names it.
    fs::create_dir(svc.join("models")).unwrap();
    fs::write(svc.join("models/model.joblib"), "model").unwrap();
    mlgen(tmp.path(), &["apply", "svc"]);
    let spec = svc.join("mlgen.toml");
    let text = fs::read_to_string(&spec).unwrap();
    fs::write(&spec, text.replace("memory = \"2Gi\"", "memory = \"3Gi\"")).unwrap();
    let out = mlgen(tmp.path(), &["plan", "--format", "json", "svc"]);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn readme_json_plan_is_shaped_and_ordered_like_the_output() {
    let text = readme();
    let block = block_after(&text, "`plan --format json` prints", "```json");
    let documented: Value = serde_json::from_str(block).expect("the README's JSON parses");
    // Laid out as mlgen prints it: keys sorted, two-space indent.
    assert_eq!(
        block.trim_end(),
        serde_json::to_string_pretty(&documented).unwrap()
    );
    let real: Value = serde_json::from_str(&real_json_plan()).unwrap();
    assert_eq!(shape(&documented), shape(&real));
    assert_eq!(
        documented["plans"][0]["summary"],
        real["plans"][0]["summary"]
    );
    // Each file's diff as shortened in the README: its headers and first hunk header, so the
    // hunk positions shown are the generated files' own.
    let heads = |plan: &Value| -> Vec<(String, String)> {
        plan["plans"][0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let diff = f["diff"].as_str().unwrap();
                let head: Vec<&str> = diff.lines().take(3).collect();
                (f["path"].as_str().unwrap().to_string(), head.join("\n"))
            })
            .collect()
    };
    assert_eq!(heads(&documented), heads(&real));
}

/// The `rev:` and hook ids of the README's pre-commit snippet.
fn precommit_snippet(text: &str) -> (String, Vec<String>) {
    let block = block_after(text, "**pre-commit.**", "```yaml");
    let value = |line: &str, key: &str| {
        let rest = line.trim().strip_prefix(key)?;
        Some(rest.split_whitespace().next()?.to_string())
    };
    let rev = block.lines().find_map(|l| value(l, "rev:")).expect("a rev");
    let ids = block.lines().filter_map(|l| value(l, "- id:")).collect();
    (rev, ids)
}

#[test]
fn readme_precommit_snippet_pins_a_commit_and_names_real_hooks() {
    let (rev, ids) = precommit_snippet(&readme());
    // No release is tagged: a tag such as v0.1.0 would not resolve.
    assert_eq!(rev, "<commit>", "pin pre-commit by commit SHA, not a tag");
    let hooks = fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    for id in &ids {
        assert!(
            hooks.contains(&format!("- id: {id}\n")),
            "no hook {id:?} in .pre-commit-hooks.yaml"
        );
    }
    assert!(!ids.is_empty());
}

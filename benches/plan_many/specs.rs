//! The varied specs that `plan_many` plans, and how many files they make on disk. Shared
//! with `tests/readme.rs`, which checks the README's file count without running the bench.

use mlgen::pipeline;
use mlgen::spec::SourceFile;

pub const SPECS: usize = 1000;

/// The folder holding spec `i` (its `mlgen.toml` and `deploy/`).
pub fn dir_name(i: usize) -> String {
    format!("svc-{i:04}")
}

/// Files under the benchmark's folder after `mlgen apply`: per spec, its `mlgen.toml`, its
/// local model file if any, the generated tree and the manifest.
pub fn file_count() -> usize {
    (0..SPECS)
        .map(|i| {
            let file = SourceFile {
                path: format!("{}/mlgen.toml", dir_name(i)).into(),
                text: spec(i),
            };
            let (_, tree) = pipeline::compile(&file).unwrap_or_else(|e| panic!("spec {i}: {e}"));
            tree.len() + 2 + usize::from(local_model(i).is_some())
        })
        .sum()
}

const FRAMEWORKS: [(&str, &str); 4] = [
    ("sklearn", "models/m.joblib"),
    ("xgboost", "models/m.json"),
    ("lightgbm", "models/m.txt"),
    ("onnx", "gs://bucket-{i}/models/m.onnx"),
];

/// The model file spec `i` names beside it, if its model is local: mlgen refuses a spec
/// whose model file is missing.
pub fn local_model(i: usize) -> Option<&'static str> {
    let (_, src) = FRAMEWORKS[i % 4];
    (!src.starts_with("gs://")).then_some(src)
}

pub fn spec(i: usize) -> String {
    let (fw, src) = FRAMEWORKS[i % 4];
    let src = src.replace("{i}", &i.to_string());
    let (cpu, mem, conc) = [
        ("1", "2Gi", 80),
        ("2", "4Gi", 160),
        ("4", "8Gi", 40),
        ("0.5", "1Gi", 1),
    ][i % 4];
    let cpu = if fw == "onnx" && cpu == "0.5" {
        "1"
    } else {
        cpu
    };
    let conc = if cpu == "0.5" { 1 } else { conc };
    let mut s = format!(
        r#"[service]
name = "svc-{i:04}"
project = "proj-{p:03}"
region = "{region}"
description = "Service number {i}, with \"quotes\" and ${{braces}}"
labels = {{ team = "t{t}", idx = "i{i}" }}
deletion_protection = {dp}

[model]
framework = "{fw}"
source = "{src}"
features = [{features}]

[image]
repository = "repo-{t}"
tag = "1.{i}.0"

[resources]
cpu = {cpu}
memory = "{mem}"

[scaling]
min_instances = {min}
max_instances = {max}
concurrency = {conc}
timeout = "{timeout}s"

[service_account]
account_id = "svc-{i:04}-runtime"

[access]
invokers = ["serviceAccount:caller-{i}@proj-{p:03}.iam.gserviceaccount.com", "group:team-{t}@example.com"]
deployers = ["serviceAccount:ci@proj-{p:03}.iam.gserviceaccount.com"]

[env]
"#,
        p = i % 97,
        t = i % 13,
        region = [
            "europe-west1",
            "us-central1",
            "asia-southeast1",
            "europe-west4"
        ][i % 4],
        dp = i.is_multiple_of(2),
        features = (0..(3 + i % 20))
            .map(|f| format!("\"f{f}\""))
            .collect::<Vec<_>>()
            .join(", "),
        min = i % 3,
        max = 3 + i % 50,
        timeout = 10 + i % 600,
    );
    for e in 0..(i % 8) {
        s.push_str(&format!(
            "VAR_{e} = \"value {e}, with commas, = and $(dollar)\"\n"
        ));
    }
    if i.is_multiple_of(3) {
        s.push_str(&format!(
            "\n[secrets]\nDB_PASSWORD = {{ secret = \"db-{i}\", version = \"{}\" }}\n",
            1 + i % 9
        ));
    }
    s
}

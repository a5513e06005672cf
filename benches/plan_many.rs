//! `mlgen plan` over 1,000 varied specs with nothing to change, against the I/O floor:
//! reading and hashing the same files. Run with `cargo bench --bench plan_many`.
//!
//! Targets: plan under 1 s on a 2-core machine, within 3x of the floor. Both are measured
//! side by side in one run (median of several), so the ratio holds on a noisy machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SPECS: usize = 1000;
const RUNS: usize = 7;

fn spec(i: usize) -> String {
    let frameworks = [
        ("sklearn", "models/m.joblib"),
        ("xgboost", "models/m.json"),
        ("lightgbm", "models/m.txt"),
        ("onnx", "gs://bucket-{i}/models/m.onnx"),
    ];
    let (fw, src) = frameworks[i % 4];
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

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_mlgen");
    let root = tempfile::tempdir().unwrap();
    let services = root.path().join("services");
    for i in 0..SPECS {
        let d = services.join(format!("svc-{i:04}"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("mlgen.toml"), spec(i)).unwrap();
    }
    let apply = Command::new(bin)
        .arg("apply")
        .arg(&services)
        .output()
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );

    let mut files = Vec::new();
    files_under(&services, &mut files);
    let bytes: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();

    let mut plan_times = Vec::new();
    let mut floor_times = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let o = Command::new(bin)
            .args(["plan", "--check"])
            .arg(&services)
            .output()
            .unwrap();
        plan_times.push(t.elapsed());
        assert_eq!(
            o.status.code(),
            Some(0),
            "plan found changes: {}",
            String::from_utf8_lossy(&o.stdout)
        );

        // The floor: find, read and hash the same files, on the same threads.
        let t = Instant::now();
        let mut found = Vec::new();
        files_under(&services, &mut found);
        let hashes = mlgen::parallel::map(&found, |f| mlgen::manifest::hash(&fs::read(f).unwrap()));
        floor_times.push(t.elapsed());
        assert_eq!(hashes.len(), files.len());
    }
    let plan = median(plan_times);
    let floor = median(floor_times);
    let ratio = plan.as_secs_f64() / floor.as_secs_f64();
    println!(
        "plan_many: {SPECS} specs, {} files, {:.1} MiB",
        files.len(),
        bytes as f64 / 1048576.0
    );
    println!(
        "  mlgen plan --check (whole process): {:>8.1} ms  (median of {RUNS})",
        plan.as_secs_f64() * 1e3
    );
    println!(
        "  floor: read + sha256 the same files:{:>8.1} ms  (median of {RUNS})",
        floor.as_secs_f64() * 1e3
    );
    println!("  ratio plan / floor: {ratio:.2}x   targets: plan < 1000 ms, ratio <= 3x");
    println!(
        "  result: {}",
        if plan < Duration::from_secs(1) && ratio <= 3.0 {
            "within targets"
        } else {
            "MISSES a target"
        }
    );
}

//! `mlgen plan` over 1,000 varied specs with nothing to change, against the I/O floor:
//! reading and hashing the same files. Run with `cargo bench --bench plan_many`.
//!
//! Targets: plan under 1 s on a 2-core machine, within 3x of the floor. Both are measured
//! side by side in one run (median of several), so the ratio holds on a noisy machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod specs;

use specs::SPECS;

const RUNS: usize = 7;

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
        let d = services.join(specs::dir_name(i));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("mlgen.toml"), specs::spec(i)).unwrap();
        if let Some(model) = specs::local_model(i) {
            fs::create_dir_all(d.join("models")).unwrap();
            fs::write(d.join(model), "model").unwrap();
        }
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
    // The count the README states is computed without a disk; it must be what apply wrote.
    assert_eq!(
        files.len(),
        specs::file_count(),
        "specs::file_count is out of date"
    );
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

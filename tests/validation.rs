//! One invalid spec per validation rule: each must fail with the right key, point at the
//! offending text, and say what would be valid.

use std::path::PathBuf;

use mlgen::diagnostics::{Diagnostic, Severity, line_col};
use mlgen::error::Error;
use mlgen::spec::{SourceFile, load, validate};

const BASE: &str = include_str!("../examples/iris-sklearn/mlgen.toml");

fn file(text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text: text.to_string(),
    }
}

/// All diagnostics for `text`, from parsing or validation.
fn diagnostics(text: &str) -> Vec<Diagnostic> {
    match load::parse(&file(text)) {
        Err(Error::Spec { diagnostics, .. }) => diagnostics,
        Err(e) => panic!("unexpected error {e}"),
        Ok(spec) => validate::validate(&spec).err().unwrap_or_default(),
    }
}

/// Replaces `from` (which must occur once) in the base spec.
fn with(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "`{from}` must occur once in the base spec"
    );
    BASE.replace(from, to)
}

/// Asserts exactly one diagnostic with `key`, whose span covers `at`, with a help text
/// containing `help`.
#[track_caller]
fn expect(text: &str, key: &str, at: &str, help: &str) {
    let ds = diagnostics(text);
    let d = ds
        .iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("no diagnostic for `{key}`; got {ds:#?}"));
    let spanned = &text[d.span.clone()];
    assert!(
        spanned.contains(at),
        "diagnostic for `{key}` points at `{spanned}`, expected it to cover `{at}`"
    );
    let h = d.help.as_deref().unwrap_or("");
    assert!(
        h.contains(help),
        "help for `{key}` is `{h}`, expected it to mention `{help}`"
    );
}

#[test]
fn base_spec_is_valid() {
    assert_eq!(diagnostics(BASE), vec![]);
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let t = with("region = \"europe-west1\"", "regoin = \"europe-west1\"");
    expect(&t, "service.regoin", "regoin", "did you mean `region`?");
}

#[test]
fn unknown_framework_suggests_the_right_one() {
    let t = with("framework = \"sklearn\"", "framework = \"sklearm\"");
    expect(&t, "model.framework", "sklearm", "did you mean `sklearn`?");
}

#[test]
fn an_unknown_key_lists_the_valid_keys_once() {
    let t = with("region = \"europe-west1\"", "regoin = \"europe-west1\"");
    let ds = diagnostics(&t);
    let d = ds.iter().find(|d| d.key == "service.regoin").unwrap();
    assert_eq!(d.message, "unknown key `regoin`");
    let all = format!("{} {}", d.message, d.help.as_deref().unwrap());
    assert_eq!(all.matches("`deletion_protection`").count(), 1, "{all}");
}

#[test]
fn every_missing_required_key_is_reported_at_its_table() {
    let t = with("deletion_protection = true\n", "")
        .replace("framework = \"sklearn\"\n", "")
        .replace("account_id = \"iris-runtime\"\n", "");
    let ds = diagnostics(&t);
    let keys: Vec<&str> = ds.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "service.deletion_protection",
            "model.framework",
            "service_account.account_id"
        ]
    );
    for (d, table) in ds.iter().zip(["service", "model", "service_account"]) {
        assert_eq!(&t[d.span.clone()], table);
        assert!(d.help.as_deref().unwrap().starts_with("add `"), "{d:?}");
    }
    expect(
        &t,
        "service.deletion_protection",
        "service",
        "true or false",
    );
    expect(&t, "model.framework", "model", "`custom`");
}

#[test]
fn missing_keys_come_with_the_other_error() {
    let t = with("deletion_protection = true\n", "").replace("port = 8080", "port = \"8080\"");
    let keys: Vec<String> = diagnostics(&t).into_iter().map(|d| d.key).collect();
    assert_eq!(keys, ["service.deletion_protection", "container.port"]);
}

#[test]
fn an_empty_file_asks_for_tables() {
    let ds = diagnostics("");
    let keys: Vec<&str> = ds.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["service", "model", "service_account"]);
    for d in &ds {
        let help = d.help.as_deref().unwrap();
        assert!(
            help.starts_with(&format!("add the table `[{}]` with `", d.key)),
            "{help}"
        );
    }
}

#[test]
fn a_missing_image_table_points_where_it_would_go() {
    let t = with("[image]\nrepository = \"ml-models\"\ntag = \"1.0.0\"\n", "");
    let ds = diagnostics(&t);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].key, "image");
    assert_eq!(ds[0].span, t.len()..t.len());
    let help = ds[0].help.as_deref().unwrap();
    assert!(
        help.contains("add the table `[image]` with `repository = "),
        "{help}"
    );
    // A present table that lacks a key points at the table.
    let t = with("tag = \"1.0.0\"\n", "");
    expect(&t, "image.tag", "image", "tag = \"1.0.0\"");
}

/// One wrong value per kind of key: each says in plain words what the key takes.
#[test]
fn wrong_types_say_what_the_key_takes() {
    let secrets = |v: &str| format!("{BASE}\n[secrets]\nAPI_KEY = {v}\n");
    for (text, key, at, message, help) in [
        (
            with("port = 8080", "port = \"10\""),
            "container.port",
            "\"10\"",
            "expected a whole number, found text \"10\"",
            "`port = 10`",
        ),
        (
            with("max_instances = 10", "max_instances = 1.5"),
            "scaling.max_instances",
            "1.5",
            "expected a whole number, found `1.5`",
            "a whole number",
        ),
        (
            format!("{BASE}\n[serving]\nmax_batch_wait_ms = \"2\"\n"),
            "serving.max_batch_wait_ms",
            "\"2\"",
            "expected a number, found text \"2\"",
            "`max_batch_wait_ms = 2.5`",
        ),
        (
            with("public = false", "public = \"no\""),
            "access.public",
            "\"no\"",
            "expected true or false, found text \"no\"",
            "`public = true`",
        ),
        (
            with("deletion_protection = true", "deletion_protection = 1"),
            "service.deletion_protection",
            "1",
            "expected true or false, found `1`",
            "true or false",
        ),
        (
            with("name = \"iris-classifier\"", "name = 5"),
            "service.name",
            "5",
            "expected text in quotes, found `5`",
            "text in quotes",
        ),
        (
            with("timeout = \"300s\"", "timeout = 300"),
            "scaling.timeout",
            "300",
            "expected text in quotes, found `300`",
            "text in quotes",
        ),
        (
            with(
                "requirements = [\"scikit-learn==1.6.1\"]",
                "requirements = \"scikit-learn==1.6.1\"",
            ),
            "container.requirements",
            "scikit-learn",
            "expected a list of names in quotes, found text",
            "[\"a\", \"b\"]",
        ),
        (
            with("\"petal_width\"]", "4]"),
            "model.features",
            "4",
            "expected a feature name in quotes or a feature table, found `4`",
            "`{ name = \"plan\", type = \"category\"",
        ),
        (
            with(
                "labels = { team = \"ml\", env = \"prod\" }",
                "labels = [\"ml\"]",
            ),
            "service.labels",
            "[\"ml\"]",
            "expected a table of names to text in quotes, found a list",
            "{ name = \"value\" }",
        ),
        (
            secrets("\"hunter2\""),
            "secrets.API_KEY",
            "hunter2",
            "expected a table `{ secret = \"…\", version = \"…\" }`, found text \"hunter2\"",
            "never the value",
        ),
        (
            secrets("{ secret = \"k\", version = 3 }"),
            "secrets.API_KEY",
            "3",
            "expected text in quotes, found `3`",
            "text in quotes",
        ),
        (
            with("cpu = 1", "cpu = true"),
            "resources.cpu",
            "true",
            "expected a CPU count",
            "0.08",
        ),
        (
            with("framework = \"sklearn\"", "framework = 1"),
            "model.framework",
            "1",
            "expected one of the allowed names, in quotes",
            "`sklearn`, `xgboost`, `lightgbm`, `onnx`",
        ),
        (
            with("ingress = \"all\"", "ingress = true"),
            "access.ingress",
            "true",
            "expected one of the allowed names, in quotes",
            "`internal-and-cloud-load-balancing`",
        ),
        (
            with("[scaling]\n", "scaling = 3\n[unused]\n"),
            "resources.scaling",
            "scaling",
            "unknown key",
            "valid here",
        ),
    ] {
        expect(&text, key, at, help);
        let ds = diagnostics(&text);
        let d = ds.iter().find(|d| d.key == key).unwrap();
        assert!(
            d.message.starts_with(message),
            "{key}: `{}` should start with `{message}`",
            d.message
        );
        let all = format!("{} {}", d.message, d.help.as_deref().unwrap_or(""));
        for rust in [
            "i64",
            "f64",
            "struct",
            "sequence",
            "a map",
            "a boolean",
            "a string",
            "untagged",
            "variant",
        ] {
            assert!(!all.contains(rust), "{key}: `{all}` says `{rust}`");
        }
    }
}

#[test]
fn service_name_rules() {
    for bad in ["Iris", "1iris", "iris-", "iris_classifier", &"a".repeat(50)] {
        let t = with("name = \"iris-classifier\"", &format!("name = \"{bad}\""));
        expect(
            &t,
            "service.name",
            bad,
            "lowercase letters, digits and hyphens",
        );
    }
    let t = with(
        "name = \"iris-classifier\"",
        &format!("name = \"{}\"", "a".repeat(49)),
    );
    assert_eq!(diagnostics(&t), vec![]);
}

#[test]
fn project_id_rules() {
    for bad in ["acme", "Acme-ml-prod", "acme-ml-prod-", "acme_ml"] {
        let t = with(
            "project = \"acme-ml-prod\"",
            &format!("project = \"{bad}\""),
        );
        expect(&t, "service.project", bad, "6-30 lowercase");
    }
}

#[test]
fn region_must_exist_with_suggestion() {
    let t = with("region = \"europe-west1\"", "region = \"europe-wset1\"");
    expect(
        &t,
        "service.region",
        "europe-wset1",
        "did you mean `europe-west1`?",
    );
}

#[test]
fn a_short_account_id_gets_a_valid_suggestion() {
    let t = with("account_id = \"iris-runtime\"", "account_id = \"rt\"");
    expect(&t, "service_account.account_id", "rt", "e.g. `rt-runtime`");
    let fixed = with(
        "account_id = \"iris-runtime\"",
        "account_id = \"rt-runtime\"",
    );
    assert_eq!(diagnostics(&fixed), vec![]);
}

#[test]
fn the_runtime_account_cannot_take_the_build_accounts_id() {
    let t = with(
        "account_id = \"iris-runtime\"",
        "account_id = \"iris-classifier-build\"",
    );
    expect(
        &t,
        "service_account.account_id",
        "iris-classifier-build",
        "e.g. `iris-classifier-runtime`",
    );
    // An image built elsewhere has no build account to collide with.
    let elsewhere = t.replace(
        "[image]\nrepository = \"ml-models\"\ntag = \"1.0.0\"\n",
        "[image]\nurl = \"us-docker.pkg.dev/other-proj/base/iris:1\"\n",
    );
    assert_ne!(elsewhere, t);
    assert_eq!(diagnostics(&elsewhere), vec![]);
}

#[test]
fn the_runtime_account_cannot_take_the_pipelines_id() {
    let t = with(
        "account_id = \"iris-runtime\"",
        "account_id = \"iris-classifier-deploy\"",
    );
    // Without `[ci]` there is no pipeline account to collide with.
    assert_eq!(diagnostics(&t), vec![]);
    let ci = format!("{t}\n[ci]\nprovider = \"github\"\nrepository = \"acme/iris\"\n");
    expect(
        &ci,
        "service_account.account_id",
        "iris-classifier-deploy",
        "e.g. `iris-classifier-runtime`",
    );
}

#[test]
fn service_account_id_rules() {
    for bad in ["iris", "Iris-runtime", "iris-runtime-", &"a".repeat(31)] {
        let t = with(
            "account_id = \"iris-runtime\"",
            &format!("account_id = \"{bad}\""),
        );
        expect(&t, "service_account.account_id", bad, "6-30 lowercase");
    }
}

#[test]
fn cpu_values() {
    for bad in ["3", "0.05", "16", "1.5", "\"two\"", "0.0001"] {
        let t = with("cpu = 1", &format!("cpu = {bad}"));
        expect(&t, "resources.cpu", bad.trim_matches('"'), "0.08");
    }
    for ok in ["2", "4", "6", "8", "\"1\""] {
        let t =
            with("cpu = 1", &format!("cpu = {ok}")).replace("memory = \"2Gi\"", "memory = \"4Gi\"");
        assert_eq!(diagnostics(&t), vec![], "cpu = {ok} should be valid");
    }
}

#[test]
fn memory_per_cpu() {
    // 1 CPU allows up to 4Gi.
    let t = with("memory = \"2Gi\"", "memory = \"8Gi\"");
    expect(&t, "resources.memory", "8Gi", "128Mi to 4Gi");
    // 4 CPU needs at least 2Gi.
    let t = with("cpu = 1", "cpu = 4").replace("memory = \"2Gi\"", "memory = \"1Gi\"");
    expect(&t, "resources.memory", "1Gi", "2Gi to 16Gi");
    // 0.5 CPU allows up to 1Gi.
    let t = with("cpu = 1", "cpu = 0.5").replace("concurrency = 80", "concurrency = 1");
    expect(&t, "resources.memory", "2Gi", "to 1Gi");
    let t = with("memory = \"2Gi\"", "memory = \"2GB\"");
    expect(&t, "resources.memory", "2GB", "512Mi");
}

#[test]
fn fractional_cpu_needs_concurrency_one() {
    let t = with("cpu = 1", "cpu = 0.5").replace("memory = \"2Gi\"", "memory = \"1Gi\"");
    expect(&t, "scaling.concurrency", "80", "concurrency = 1");
}

#[test]
fn concurrency_range() {
    for bad in ["0", "1001"] {
        let t = with("concurrency = 80", &format!("concurrency = {bad}"));
        expect(&t, "scaling.concurrency", bad, "1 to 1000");
    }
}

#[test]
fn timeout_range_and_format() {
    for bad in ["0s", "3601s", "2h", "300", "5 m"] {
        let t = with("timeout = \"300s\"", &format!("timeout = \"{bad}\""));
        expect(&t, "scaling.timeout", bad, "3600s");
    }
    for ok in ["1s", "3600s", "15m", "1h"] {
        let t = with("timeout = \"300s\"", &format!("timeout = \"{ok}\""));
        assert_eq!(diagnostics(&t), vec![], "{ok} should be valid");
    }
}

#[test]
fn min_not_above_max() {
    let t = with("min_instances = 0", "min_instances = 11");
    expect(&t, "scaling.min_instances", "11", "at most max_instances");
    let t = with("max_instances = 10", "max_instances = 0");
    expect(&t, "scaling.max_instances", "0", "1 to 1000");
}

fn gpu_spec(region: &str, cpu: &str, memory: &str) -> String {
    with("cpu = 1", &format!("cpu = {cpu}\ngpu = \"nvidia-l4\""))
        .replace("memory = \"2Gi\"", &format!("memory = \"{memory}\""))
        .replace(
            "region = \"europe-west1\"",
            &format!("region = \"{region}\""),
        )
}

#[test]
fn gpu_rules() {
    assert_eq!(diagnostics(&gpu_spec("europe-west1", "4", "16Gi")), vec![]);
    expect(
        &gpu_spec("europe-west1", "2", "8Gi"),
        "resources.cpu",
        "2",
        "cpu = 4",
    );
    expect(
        &gpu_spec("europe-west1", "4", "8Gi"),
        "resources.memory",
        "8Gi",
        "16Gi",
    );
    expect(
        &gpu_spec("europe-west2", "4", "16Gi"),
        "resources.gpu",
        "nvidia-l4",
        "europe-west1",
    );
    let t = gpu_spec("europe-west1", "4", "16Gi").replace("nvidia-l4", "nvidia-l5");
    expect(
        &t,
        "resources.gpu",
        "nvidia-l5",
        "did you mean `nvidia-l4`?",
    );
    let t = gpu_spec("europe-west1", "4", "16Gi").replace(
        "startup_cpu_boost = true",
        "startup_cpu_boost = true\ncpu_always_allocated = false",
    );
    expect(
        &t,
        "resources.cpu_always_allocated",
        "false",
        "instance-based billing",
    );
}

#[test]
fn member_syntax() {
    for (bad, help) in [
        ("allUsers", "public = true"),
        ("group:not-an-email", "email address"),
        (
            "serviceaccount:ci@acme-ml-prod.iam.gserviceaccount.com",
            "did you mean `serviceAccount:`?",
        ),
        ("ci@acme.example", "TYPE:ID"),
        ("serviceAccount:ci@acme.example", ".gserviceaccount.com"),
    ] {
        let t = with("\"group:ml-clients@acme.example\"", &format!("\"{bad}\""));
        expect(&t, "access.invokers", bad, help);
        let t = with(
            "deployers = [\"serviceAccount:ci@acme-ml-prod.iam.gserviceaccount.com\"]",
            &format!("deployers = [\"{bad}\"]"),
        );
        expect(&t, "access.deployers", bad, help);
    }
}

#[test]
fn public_with_invokers_is_contradictory() {
    let t = with("public = false", "public = true");
    expect(&t, "access.invokers", "group:ml-clients", "public = false");
}

#[test]
fn reserved_env_names() {
    for name in ["PORT", "K_SERVICE", "MLGEN_MODEL_PATH"] {
        let t = with("LOG_LEVEL = \"info\"", &format!("{name} = \"x\""));
        expect(&t, &format!("env.{name}"), name, "reserved");
    }
    let t = with("LOG_LEVEL = \"info\"", "\"1X\" = \"x\"");
    expect(&t, "env.1X", "1X", "letters, digits and `_`");
}

#[test]
fn credentials_must_be_secrets() {
    for name in [
        "API_TOKEN",
        "DB_PASSWORD",
        "STRIPE_KEY",
        "CLIENT_SECRET",
        "OPENAI_APIKEY",
        "OPENAI_API_KEY",
        "DB_PASS",
        "DB_PASSWD",
        "AUTH_TOKEN_VALUE",
        "PRIVATE_KEY_PEM",
    ] {
        let t = with("LOG_LEVEL = \"info\"", &format!("{name} = \"hunter2\""));
        expect(&t, &format!("env.{name}"), name, "[secrets]");
    }
    let t = with(
        "LOG_LEVEL = \"info\"",
        "DATABASE_URL = \"postgres://app:hunter2@db/iris\"",
    );
    expect(&t, "env.DATABASE_URL", "hunter2", "[secrets]");
}

#[test]
fn names_that_only_mention_tokens_or_secrets_stay_plain() {
    for (name, value) in [
        ("TOKENIZERS_PARALLELISM", "false"),
        ("MAX_TOKENS", "256"),
        ("PASSTHROUGH", "1"),
        ("SECRET_NAME", "iris-api-key"),
        ("DATABASE_URL", "postgres://db/iris"),
    ] {
        let t = with("LOG_LEVEL = \"info\"", &format!("{name} = \"{value}\""));
        assert_eq!(diagnostics(&t), vec![], "{name} should be allowed");
    }
}

#[test]
fn a_key_file_is_not_needed_on_cloud_run() {
    let t = with(
        "LOG_LEVEL = \"info\"",
        "GOOGLE_APPLICATION_CREDENTIALS = \"/app/key.json\"",
    );
    let ds = diagnostics(&t);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    expect(
        &t,
        "env.GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "runtime service account",
    );
    assert!(!ds[0].help.as_deref().unwrap().contains("Secret Manager"));
}

#[test]
fn env_values_refuse_control_characters() {
    let t = with("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"a\\u0007b\"");
    expect(&t, "env.LOG_LEVEL", "u0007", "printable");
    // Newlines and tabs are fine.
    let t = with("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"a\\nb\\tc\"");
    assert_eq!(diagnostics(&t), vec![]);
}

#[test]
fn secrets_are_pinned_references() {
    let add = |v: &str| format!("{BASE}\n[secrets]\nAPI_KEY = {v}\n");
    expect(
        &add("{ secret = \"iris-api-key\", version = \"latest\" }"),
        "secrets.API_KEY",
        "latest",
        "pin a version",
    );
    expect(
        &add("{ secret = \"iris api key\", version = \"3\" }"),
        "secrets.API_KEY",
        "iris api key",
        "1-255 letters",
    );
    expect(
        &add("{ secret = \"k\", value = \"hunter2\" }"),
        "secrets.API_KEY",
        "value",
        "valid here: `secret`, `version`",
    );
    assert_eq!(
        diagnostics(&add("{ secret = \"iris-api-key\", version = \"3\" }")),
        vec![]
    );
}

#[test]
fn env_and_secret_names_do_not_collide() {
    let t = format!("{BASE}\n[secrets]\nLOG_LEVEL = {{ secret = \"s\", version = \"1\" }}\n");
    expect(&t, "env.LOG_LEVEL", "LOG_LEVEL", "keep one");
}

#[test]
fn label_rules() {
    for (from, to) in [
        ("team = \"ml\"", "Team = \"ml\""),
        ("team = \"ml\"", "team = \"ML Team\""),
    ] {
        let t = with(from, to);
        let ds = diagnostics(&t);
        assert!(
            ds.iter().any(|d| d.key.starts_with("service.labels.")),
            "{to}: {ds:?}"
        );
    }
}

#[test]
fn container_registry_is_refused() {
    let t = with(
        "repository = \"ml-models\"\ntag = \"1.0.0\"",
        "url = \"gcr.io/acme-ml-prod/iris:1.0.0\"",
    );
    expect(&t, "image.url", "gcr.io", "Artifact Registry");
    let t = with(
        "repository = \"ml-models\"\ntag = \"1.0.0\"",
        "url = \"eu.gcr.io/acme-ml-prod/iris:1.0.0\"",
    );
    expect(&t, "image.url", "eu.gcr.io", "Artifact Registry");
    let t = with(
        "repository = \"ml-models\"\ntag = \"1.0.0\"",
        "url = \"europe-west1-docker.pkg.dev/acme-ml-prod/ml/iris@sha256:0123\"",
    );
    assert_eq!(diagnostics(&t), vec![]);
}

#[test]
fn image_tag_and_repository() {
    expect(
        &with("tag = \"1.0.0\"", "tag = \"latest\""),
        "image.tag",
        "latest",
        "1.0.0",
    );
    expect(
        &with("tag = \"1.0.0\"", "tag = \"-x\""),
        "image.tag",
        "-x",
        "128",
    );
    expect(
        &with("repository = \"ml-models\"", "repository = \"ML_models\""),
        "image.repository",
        "ML_models",
        "lowercase",
    );
}

#[test]
fn requirements_must_be_pinned() {
    for bad in ["scikit-learn", "scikit-learn>=1.6", "scikit learn==1"] {
        let t = with("\"scikit-learn==1.6.1\"", &format!("\"{bad}\""));
        expect(&t, "container.requirements", bad, "pin every package");
    }
}

#[test]
fn python_version_offered() {
    let t = with("python = \"3.12\"", "python = \"3.9\"");
    expect(&t, "container.python", "3.9", "3.12");
}

#[test]
fn model_source_rules() {
    for (bad, help) in [
        ("../iris.joblib", "without `..`"),
        ("/abs/iris.joblib", "relative path"),
        ("models/iris.onnx", "`.joblib`"),
        ("s3://bucket/iris.joblib", "gs://bucket/object"),
        ("gs://Bad_Bucket/iris.joblib", "bucket names"),
        ("gs://bucket", "gs://BUCKET/path"),
    ] {
        let t = with(
            "source = \"models/iris.joblib\"",
            &format!("source = \"{bad}\""),
        );
        expect(&t, "model.source", bad, help);
    }
}

#[test]
fn features_rules() {
    let t = with(
        "features = [\"sepal_length\", \"sepal_width\", \"petal_length\", \"petal_width\"]",
        "features = []",
    );
    expect(&t, "model.features", "[]", "input columns");
    let t = with("\"petal_width\"]", "\"sepal_width\"]");
    expect(&t, "model.features", "sepal_width", "once");
}

#[test]
fn gcs_model_needs_gen2_cpu() {
    let t = with(
        "source = \"models/iris.joblib\"",
        "source = \"gs://acme-models/iris.joblib\"",
    )
    .replace("cpu = 1", "cpu = 0.5")
    .replace("memory = \"2Gi\"", "memory = \"1Gi\"")
    .replace("concurrency = 80", "concurrency = 1");
    expect(&t, "model.source", "gs://", "cpu = 1");
}

#[test]
fn onnx_conversion_is_sklearn_only() {
    let t = with("framework = \"sklearn\"", "framework = \"xgboost\"")
        .replace("models/iris.joblib", "models/iris.json")
        + "\n[serving]\nconvert_to_onnx = true\n";
    expect(
        &t,
        "serving.convert_to_onnx",
        "true",
        "framework = \"onnx\"",
    );
}

#[test]
fn onnx_conversion_needs_a_model_in_the_build_context() {
    let t = with(
        "source = \"models/iris.joblib\"",
        "source = \"gs://acme-models/iris.joblib\"",
    ) + "\n[serving]\nconvert_to_onnx = true\n";
    expect(&t, "serving.convert_to_onnx", "true", "local model path");
}

#[test]
fn serving_ranges() {
    let t = format!(
        "{BASE}\n[serving]\nmax_batch_size = 0\nmax_batch_wait_ms = 500\nmax_request_bytes = 10\n"
    );
    expect(&t, "serving.max_batch_size", "0", "4096");
    expect(&t, "serving.max_batch_wait_ms", "500", "100 milliseconds");
    expect(&t, "serving.max_request_bytes", "10", "32 MiB");
}

#[test]
fn description_may_hold_anything_printable() {
    let t = with(
        "description = \"Iris species classifier\"",
        "description = \"it's \\\"100%{x}\\\" ${y} $(z) `w`\\nline two, é, ^\"",
    );
    assert_eq!(diagnostics(&t), vec![]);
}

#[test]
fn errors_are_located_by_line_and_column() {
    let t = with("cpu = 1", "cpu = 3");
    let d = diagnostics(&t).into_iter().next().unwrap();
    let (line, col) = line_col(&t, d.span.start);
    let expected_line = t.lines().position(|l| l == "cpu = 3").unwrap() + 1;
    assert_eq!((line, col), (expected_line, 7));
}

#[test]
fn all_problems_are_reported_at_once() {
    let t = with("cpu = 1", "cpu = 3").replace("concurrency = 80", "concurrency = 0");
    assert_eq!(diagnostics(&t).len(), 2);
}

/// The base spec served by a custom handler: `handler` replaces nothing else.
fn custom(handler: &str) -> String {
    with(
        "framework = \"sklearn\"",
        &format!("framework = \"custom\"\nhandler = \"{handler}\""),
    )
}

#[test]
fn a_custom_handler_is_a_python_file_and_a_class_beside_the_spec() {
    assert_eq!(diagnostics(&custom("serve.py:Model")), vec![]);
    assert_eq!(diagnostics(&custom("src/text_model.py:Model_2")), vec![]);
    // Any model file: the handler reads it.
    let t = custom("serve.py:Model").replace("models/iris.joblib", "models/weights.bin");
    assert_eq!(diagnostics(&t), vec![]);
    expect(
        &custom("serve.py"),
        "model.handler",
        "serve.py",
        "FILE.py:CLASS",
    );
    expect(
        &custom("serve.txt:Model"),
        "model.handler",
        "serve.txt",
        "`.py`",
    );
    expect(
        &custom("../serve.py:Model"),
        "model.handler",
        "../serve.py",
        "without `..`",
    );
    expect(
        &custom("my-model.py:Model"),
        "model.handler",
        "my-model.py",
        "module name",
    );
    expect(
        &custom("server.py:Model"),
        "model.handler",
        "server.py",
        "server_handler.py",
    );
    expect(
        &custom("serve.py:2Model"),
        "model.handler",
        "2Model",
        "class name",
    );
}

#[test]
fn handler_and_custom_come_together() {
    let t = with("framework = \"sklearn\"", "framework = \"custom\"");
    expect(
        &t,
        "model.handler",
        "\"custom\"",
        "handler = \"serve.py:Model\"",
    );
    let t = with(
        "framework = \"sklearn\"",
        "framework = \"sklearn\"\nhandler = \"serve.py:Model\"",
    );
    expect(
        &t,
        "model.handler",
        "serve.py:Model",
        "framework = \"custom\"",
    );
    let t = format!(
        "{}\n[serving]\nconvert_to_onnx = true\n",
        custom("serve.py:Model")
    );
    expect(
        &t,
        "serving.convert_to_onnx",
        "true",
        "remove `convert_to_onnx`",
    );
}

#[test]
fn only_a_custom_handler_may_go_without_features() {
    let no_features = |text: &str| {
        let line = text.lines().find(|l| l.starts_with("features")).unwrap();
        text.replace(line, "")
    };
    assert_eq!(diagnostics(&no_features(&custom("serve.py:Model"))), vec![]);
    expect(
        &no_features(BASE),
        "model.features",
        "sklearn",
        "input columns",
    );
}

#[test]
fn included_files_are_relative_paths_inside_the_spec_folder() {
    let t = |include: &str| {
        custom("serve.py:Model")
            .replace("port = 8080", &format!("port = 8080\ninclude = {include}"))
    };
    assert_eq!(diagnostics(&t(r#"["tokenizer/", "labels.json"]"#)), vec![]);
    expect(
        &t(r#"["../secrets.json"]"#),
        "container.include",
        "../secrets.json",
        "without `..`",
    );
    expect(
        &t(r#"["/etc/passwd"]"#),
        "container.include",
        "/etc/passwd",
        "relative path",
    );
    expect(
        &t(r#"["a//b"]"#),
        "container.include",
        "a//b",
        "relative path",
    );
    expect(
        &t(r#"["vocab/", "vocab"]"#),
        "container.include",
        "\"vocab\"",
        "once",
    );
}

#[test]
fn one_cpu_or_more_runs_gen2_which_needs_512_mib() {
    let t = with("memory = \"2Gi\"", "memory = \"256Mi\"");
    expect(&t, "resources.memory", "256Mi", "memory = \"512Mi\"");
    let t = with("memory = \"2Gi\"", "memory = \"512Mi\"");
    assert_eq!(diagnostics(&t), vec![]);
}

#[test]
fn a_fractional_cpu_cannot_stay_allocated() {
    let t = with("cpu = 1", "cpu = 0.5\ncpu_always_allocated = true")
        .replace("memory = \"2Gi\"", "memory = \"1Gi\"")
        .replace("concurrency = 80", "concurrency = 1");
    expect(&t, "resources.cpu_always_allocated", "true", "cpu = 1");
    assert_eq!(diagnostics(&t).len(), 1, "{:#?}", diagnostics(&t));
}

/// The warnings of a valid spec.
fn warnings(text: &str) -> Vec<Diagnostic> {
    let spec = load::parse(&file(text)).unwrap_or_else(|e| panic!("{e}"));
    validate::validate(&spec)
        .unwrap_or_else(|d| panic!("{d:#?}"))
        .warnings
}

/// Asserts one warning with `key`, whose span covers `at`, and whose message and help
/// together mention each of `says`.
#[track_caller]
fn expect_warning(text: &str, key: &str, at: &str, says: &[&str]) {
    let ws = warnings(text);
    let w = ws
        .iter()
        .find(|w| w.key == key)
        .unwrap_or_else(|| panic!("no warning for `{key}`; got {ws:#?}"));
    assert_eq!(w.severity, Severity::Warning);
    assert!(text[w.span.clone()].contains(at), "{w:#?}");
    let all = format!("{} {}", w.message, w.help.as_deref().unwrap_or(""));
    for s in says {
        assert!(
            all.contains(s),
            "warning for `{key}` does not say `{s}`: {all}"
        );
    }
}

#[test]
fn the_examples_base_has_no_warnings() {
    assert_eq!(warnings(BASE), vec![]);
}

#[test]
fn people_invited_to_an_internal_service_are_warned_not_refused() {
    for ingress in ["internal", "internal-and-cloud-load-balancing"] {
        let t = with("ingress = \"all\"", &format!("ingress = \"{ingress}\""));
        expect_warning(
            &t,
            "access.invokers",
            "group:ml-clients@acme.example",
            &["inside Google Cloud", "ingress = \"all\""],
        );
        assert_eq!(warnings(&t).len(), 1, "service accounts can reach it");
    }
    let t = with("ingress = \"all\"", "ingress = \"internal\"").replace(
        "\"group:ml-clients@acme.example\"",
        "\"user:ana@acme.example\", \"domain:acme.example\"",
    );
    let keys: Vec<String> = warnings(&t).into_iter().map(|w| w.key).collect();
    assert_eq!(keys, ["access.invokers", "access.invokers"]);
}

const GPU: (&str, &str) = ("cpu = 1", "cpu = 4\ngpu = \"nvidia-l4\"");

/// The base spec with a model of another framework, without its scikit-learn pin: a spec
/// may only restate pins of its framework's locked stack.
fn other_framework(framework: &str, model_file: &str) -> String {
    with(
        "framework = \"sklearn\"",
        &format!("framework = \"{framework}\""),
    )
    .replace("iris.joblib", model_file)
    .replace("requirements = [\"scikit-learn==1.6.1\"]\n", "")
}

fn on_gpu(text: &str) -> String {
    text.replace(GPU.0, GPU.1)
        .replace("memory = \"2Gi\"", "memory = \"16Gi\"")
}

#[test]
fn a_gpu_service_is_reminded_of_its_quota() {
    let t = on_gpu(&with("max_instances = 10", "max_instances = 3"));
    expect_warning(
        &t,
        "resources.gpu",
        "nvidia-l4",
        &[
            "`max_instances = 3`",
            "at least 3",
            "\"Total Nvidia L4 GPU allocation, per project per region\"",
            "europe-west1",
        ],
    );
}

#[test]
fn a_cpu_only_framework_on_a_gpu_names_the_cost() {
    let t = on_gpu(BASE);
    expect_warning(
        &t,
        "model.framework",
        "sklearn",
        &[
            "runs on the CPU",
            "never used",
            "$1.05 an hour",
            "per instance",
        ],
    );
    let t = on_gpu(&other_framework("lightgbm", "iris.txt"));
    expect_warning(&t, "model.framework", "lightgbm", &["lightgbm model"]);
    // xgboost and ONNX Runtime (a converted sklearn model's too) have GPU packages in
    // data/runtime.toml: only the quota reminder.
    for t in [
        on_gpu(&other_framework("xgboost", "iris.ubj")),
        on_gpu(&other_framework("onnx", "iris.onnx")),
        on_gpu(BASE) + "\n[serving]\nconvert_to_onnx = true\n",
    ] {
        let keys: Vec<String> = warnings(&t).into_iter().map(|w| w.key).collect();
        assert_eq!(keys, ["resources.gpu"]);
    }
}

#[test]
fn a_local_model_file_is_looked_for_beside_the_spec() {
    let spec = load::parse(&file(BASE)).unwrap();
    let checked = validate::validate(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let [d] = &validate::check_files(&spec, &checked, dir.path()).unwrap_err()[..] else {
        panic!("one problem expected")
    };
    assert_eq!(d.key, "model.source");
    assert_eq!(&BASE[d.span.clone()], "\"models/iris.joblib\"");
    assert!(d.message.contains("does not exist"), "{}", d.message);
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("models/iris.joblib"), "model").unwrap();
    assert_eq!(validate::check_files(&spec, &checked, dir.path()), Ok(()));
}

#[test]
fn typed_features_rules() {
    let typed = |entry: &str| with("\"petal_width\"]", &format!("{entry}]"));
    for (entry, at, help) in [
        (
            "{ name = \"plan\", type = \"float\" }",
            "\"float\"",
            "`category`",
        ),
        ("{ name = \"plan\", typ = \"string\" }", "typ", "`type`"),
        (
            "{ name = \"plan\", type = \"category\" }",
            "{ name = \"plan\", type = \"category\" }",
            "values = [",
        ),
        (
            "{ name = \"plan\", type = \"category\", values = [] }",
            "[]",
            "values it may take",
        ),
        (
            "{ name = \"plan\", type = \"category\", values = [\"a\", \"b\", \"a\"] }",
            "\"a\"",
            "each value once",
        ),
        (
            "{ name = \"plan\", type = \"string\", values = [\"a\"] }",
            "[\"a\"]",
            "only `type = \"category\"`",
        ),
        (
            "{ name = \"sepal_width\", type = \"integer\" }",
            "\"sepal_width\"",
            "once",
        ),
        ("{ name = \"a/b\" }", "\"a/b\"", "letters, digits"),
        ("4", "4", "type = \"category\""),
    ] {
        let t = typed(entry);
        assert_eq!(diagnostics(&t).len(), 1, "{entry}: {:#?}", diagnostics(&t));
        expect(&t, "model.features", at, help);
    }
    // Names, and tables of every type, mixed.
    let ok = typed(
        "{ name = \"petal_width\" }, { name = \"n\", type = \"integer\" }, \
         { name = \"b\", type = \"boolean\" }, { name = \"s\", type = \"string\" }, \
         { name = \"plan\", type = \"category\", values = [\"free\", \"pro\"] }",
    );
    assert!(diagnostics(&ok).is_empty(), "{:#?}", diagnostics(&ok));
}

#[test]
fn text_features_need_an_sklearn_model() {
    let t = other_framework("xgboost", "iris.ubj").replace(
        "\"petal_width\"]",
        "{ name = \"plan\", type = \"string\" }]",
    );
    expect(&t, "model.features", "\"string\"", "sklearn Pipeline");
    let numbers = t.replace("\"string\"", "\"boolean\"");
    assert!(
        diagnostics(&numbers).is_empty(),
        "{:#?}",
        diagnostics(&numbers)
    );
}

#[test]
fn input_rules() {
    let xgb = with("framework = \"sklearn\"", "framework = \"xgboost\"")
        .replace("models/iris.joblib", "models/iris.ubj")
        .replace("features = [", "input = \"dataframe\"\nfeatures = [");
    expect(&xgb, "model.input", "\"dataframe\"", "only sklearn");
    let matrix = with(
        "\"petal_width\"]",
        "{ name = \"plan\", type = \"string\" }]\ninput = \"matrix\"",
    );
    expect(
        &matrix,
        "model.input",
        "\"matrix\"",
        "`input = \"dataframe\"`",
    );
    let frame = matrix.replace("input = \"matrix\"", "input = \"dataframe\"");
    assert!(diagnostics(&frame).is_empty(), "{:#?}", diagnostics(&frame));
    let unknown = with("features = [", "input = \"table\"\nfeatures = [");
    expect(&unknown, "model.input", "\"table\"", "`dataframe`");
}

#[test]
fn output_takes_predict_or_proba() {
    let t = with(
        "\"petal_width\"]",
        "\"petal_width\"]\noutput = \"probability\"",
    );
    expect(&t, "model.output", "\"probability\"", "`proba`");
    let ok = with("\"petal_width\"]", "\"petal_width\"]\noutput = \"proba\"");
    assert!(diagnostics(&ok).is_empty(), "{:#?}", diagnostics(&ok));
}

#[test]
fn only_a_custom_handler_may_go_without_a_source() {
    let no_source = |text: &str| text.replace("source = \"models/iris.joblib\"\n", "");
    assert_eq!(diagnostics(&no_source(&custom("serve.py:Model"))), vec![]);
    expect(
        &no_source(BASE),
        "model.source",
        "sklearn",
        "only a custom handler",
    );
    assert_eq!(diagnostics(&no_source(BASE)).len(), 1);
}

#[test]
fn only_a_custom_handler_includes_files() {
    let t = with("port = 8080", "port = 8080\ninclude = [\"labels.json\"]");
    expect(
        &t,
        "container.include",
        "labels.json",
        "framework = \"custom\"",
    );
    assert_eq!(diagnostics(&t).len(), 1);
}

#[test]
fn the_handler_and_what_it_includes_are_looked_for_beside_the_spec() {
    let text = custom("src/serve.py:Model").replace(
        "port = 8080",
        "port = 8080\ninclude = [\"tokenizer/\", \"labels.json\"]",
    );
    let spec = load::parse(&file(&text)).unwrap();
    let checked = validate::validate(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |path: &str| dir.path().join(path);
    std::fs::create_dir_all(at("models")).unwrap();
    std::fs::write(at("models/iris.joblib"), "model").unwrap();
    // (key, what the span covers, message and help)
    let problems = || -> Vec<(String, String, String)> {
        validate::check_files(&spec, &checked, dir.path())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                let said = format!("{} {}", d.message, d.help.unwrap_or_default());
                (d.key, text[d.span].to_string(), said)
            })
            .collect()
    };
    let found = problems();
    let located: Vec<(&str, &str)> = found
        .iter()
        .map(|(k, at, _)| (k.as_str(), at.as_str()))
        .collect();
    assert_eq!(
        located,
        [
            ("model.handler", "\"src/serve.py:Model\""),
            ("container.include", "\"tokenizer/\""),
            ("container.include", "\"labels.json\""),
        ]
    );
    assert!(
        found
            .iter()
            .all(|(.., said)| said.contains("does not exist")),
        "{found:#?}"
    );

    // A folder where a file is named, and a file where a folder is.
    std::fs::create_dir_all(at("src")).unwrap();
    std::fs::write(at("src/serve.py"), "class Model: ...").unwrap();
    std::fs::write(at("tokenizer"), "a file").unwrap();
    std::fs::create_dir(at("labels.json")).unwrap();
    let found = problems();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].2.contains("is not a folder") && found[0].2.contains("without the trailing `/`")
    );
    assert!(found[1].2.contains("is not a file") && found[1].2.contains("end it with `/`"));

    std::fs::remove_file(at("tokenizer")).unwrap();
    std::fs::create_dir(at("tokenizer")).unwrap();
    std::fs::remove_dir(at("labels.json")).unwrap();
    std::fs::write(at("labels.json"), "[]").unwrap();
    assert_eq!(problems(), vec![]);
}

#[test]
fn a_custom_handler_takes_text_features_but_no_input_or_output() {
    let text = custom("serve.py:Model").replace(
        "\"petal_width\"]",
        "{ name = \"plan\", type = \"category\", values = [\"a\"] }, { name = \"note\", type = \"string\" }]",
    );
    assert_eq!(diagnostics(&text), vec![]);
    let input = text.replace(
        "handler = \"serve.py:Model\"",
        "handler = \"serve.py:Model\"\ninput = \"dataframe\"",
    );
    expect(
        &input,
        "model.input",
        "dataframe",
        "typed as its features say",
    );
    assert_eq!(diagnostics(&input).len(), 1);
    let proba = text.replace(
        "handler = \"serve.py:Model\"",
        "handler = \"serve.py:Model\"\noutput = \"proba\"",
    );
    expect(&proba, "model.output", "custom", "\"classes\"");
    // A custom model on a GPU may use it through its own packages: no CPU-only warning.
    let gpu = on_gpu(&custom("serve.py:Model"));
    let keys: Vec<String> = warnings(&gpu).into_iter().map(|w| w.key).collect();
    assert_eq!(keys, ["resources.gpu"]);
}

#[test]
fn rollout_strategy_and_steps() {
    let rollout = |body: &str| format!("{BASE}\n[rollout]\n{body}\n");
    assert_eq!(diagnostics(&rollout("strategy = \"canary\"")), vec![]);
    expect(
        &rollout("strategy = \"blue-green\""),
        "rollout.strategy",
        "blue-green",
        "`canary`",
    );
    let steps_help = "increasing percentages from 1 to 100 that end at 100";
    let canary = |steps: &str| rollout(&format!("strategy = \"canary\"\nsteps = {steps}"));
    expect(&canary("[25, 10, 100]"), "rollout.steps", "10", steps_help);
    expect(&canary("[5, 150]"), "rollout.steps", "150", steps_help);
    expect(&canary("[5, 50]"), "rollout.steps", "50", steps_help);
    expect(&canary("[]"), "rollout.steps", "[]", steps_help);
    expect(
        &rollout("steps = [5, 100]"),
        "rollout.steps",
        "[5, 100]",
        "strategy = \"canary\"",
    );
}

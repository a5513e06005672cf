//! The resolved deployment: every derived value is decided here, once.

use std::path::PathBuf;

use mlgen::model::{Deployment, IamTarget, Principal};
use mlgen::pipeline;
use mlgen::spec::SourceFile;

fn resolve(text: &str) -> Deployment {
    let file = SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text: text.to_string(),
    };
    pipeline::compile(&file).unwrap_or_else(|e| panic!("{e}")).0
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/examples/{name}/mlgen.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn names_are_derived_once() {
    let d = resolve(&example("iris-sklearn"));
    assert_eq!(
        d.image.url,
        "europe-west1-docker.pkg.dev/acme-ml-prod/ml-models/iris-classifier:1.0.0"
    );
    assert_eq!(
        d.runtime_account.email,
        "iris-runtime@acme-ml-prod.iam.gserviceaccount.com"
    );
    assert_eq!(
        d.runtime_account.member,
        format!("serviceAccount:{}", d.runtime_account.email)
    );
    assert_eq!(d.service.ingress_api, "INGRESS_TRAFFIC_ALL");
    assert_eq!(d.build.dockerfile, "deploy/Dockerfile");
    assert_eq!(d.build.context_from_out, "..");
}

#[test]
fn least_privilege_grants() {
    let d = resolve(&example("fraud-onnx-gcs"));
    let runtime: Vec<_> = d
        .iam
        .iter()
        .filter(|g| g.member == d.runtime_account.member)
        .collect();
    // The runtime account reads its two secrets and the model's folder; nothing else.
    assert_eq!(runtime.len(), 3);
    assert!(
        runtime
            .iter()
            .all(|g| g.before_service && g.principal == Principal::Runtime)
    );
    assert!(runtime.iter().any(|g| g.target == IamTarget::ManagedFolder
        && g.role == "roles/storage.objectViewer"
        && g.resource == "acme-models-prod/fraud/v7/"));
    assert_eq!(d.volumes[0].mount_options, ["only-dir=fraud/v7"]);
    // Callers and deployers get roles on the service; never the runtime account.
    for g in d.iam.iter().filter(|g| g.target == IamTarget::Service) {
        assert!(["roles/run.invoker", "roles/run.developer"].contains(&g.role.as_str()));
        assert_ne!(g.member, d.runtime_account.member);
        assert!(!g.before_service);
    }
    // A deployer can deploy: act as the runtime account, update the service, push images.
    let deployer = "serviceAccount:deploy@acme-ci.iam.gserviceaccount.com";
    let mut roles: Vec<&str> = d
        .iam
        .iter()
        .filter(|g| g.member == deployer)
        .map(|g| g.role.as_str())
        .collect();
    roles.sort_unstable();
    assert_eq!(
        roles,
        [
            "roles/artifactregistry.writer",
            "roles/iam.serviceAccountUser",
            "roles/run.developer"
        ]
    );
    let keys: std::collections::BTreeSet<_> = d.iam.iter().map(|g| &g.key).collect();
    assert_eq!(keys.len(), d.iam.len(), "IAM keys must be unique");
    assert!(d.apis.contains(&"secretmanager.googleapis.com".to_string()));
    assert!(d.apis.contains(&"storage.googleapis.com".to_string()));
}

#[test]
fn public_service_disables_the_invoker_check_without_all_users() {
    let d = resolve(&example("churn-public"));
    assert!(d.service.invoker_iam_disabled);
    assert!(d.iam.iter().all(|g| !g.member.starts_with("all")));
    assert!(d.iam.iter().all(|g| g.role != "roles/run.invoker"));
}

#[test]
fn gpu_forces_cpu_always_allocated_and_gen2() {
    let d = resolve(&example("forecast-gpu"));
    let gpu = d.container.gpu.as_ref().unwrap();
    assert_eq!(gpu.kind, "nvidia-l4");
    assert!(gpu.zonal_redundancy_disabled);
    assert!(!d.container.cpu_idle);
    assert_eq!(d.container.execution_environment, "gen2");
    assert_eq!(d.serving.workers, 1);
}

#[test]
fn fractional_cpu_runs_on_gen1() {
    let d = resolve(&example("churn-public"));
    assert_eq!(d.container.cpu, "0.5");
    assert_eq!(d.container.execution_environment, "gen1");
    assert!(d.container.cpu_idle);
}

/// A user pin of plain `xgboost` on a CPU service used to pull the 470 MB NCCL wheel into
/// the image, unpinned. The image installs only its locked stack now: such a pin is refused,
/// and the CPU stack has xgboost-cpu and no NCCL, every package pinned.
#[test]
fn the_image_installs_only_its_locked_stack() {
    let cpu = example("forecast-gpu")
        .replace("gpu = \"nvidia-l4\"\n", "")
        .replace("gpu_zonal_redundancy = false\n", "");
    let pinned = cpu.replace(
        "python = \"3.12\"",
        "python = \"3.12\"\nrequirements = [\"xgboost==3.1.0\"]",
    );
    let file = SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text: pinned,
    };
    let err = pipeline::compile(&file).unwrap_err().to_string();
    assert!(
        err.contains("`xgboost==3.1.0` is not in the image's locked xgboost-cpu stack"),
        "{err}"
    );
    let reqs = resolve(&cpu).python.requirements;
    assert!(
        reqs.iter().any(|r| r.starts_with("xgboost-cpu==")),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|r| r.starts_with("nvidia-")), "{reqs:?}");
    assert!(reqs.iter().all(|r| r.contains("==")), "{reqs:?}");
    let gpu = resolve(&example("forecast-gpu")).python.requirements;
    assert!(
        gpu.iter().any(|r| r.starts_with("nvidia-nccl-cu12==")),
        "{gpu:?}"
    );
}

#[test]
fn every_requirement_is_pinned_and_unique() {
    for ex in [
        "iris-sklearn",
        "fraud-onnx-gcs",
        "forecast-gpu",
        "churn-public",
    ] {
        let d = resolve(&example(ex));
        let names: std::collections::BTreeSet<_> = d
            .python
            .requirements
            .iter()
            .map(|r| mlgen::model::package_name(r))
            .collect();
        assert_eq!(
            names.len(),
            d.python.requirements.len(),
            "{ex}: duplicate package"
        );
        assert!(
            d.python.requirements.iter().all(|r| r.contains("==")),
            "{ex}"
        );
    }
}

#[test]
fn image_built_elsewhere_needs_no_repository() {
    let text = example("iris-sklearn").replace(
        "repository = \"ml-models\"\ntag = \"1.0.0\"",
        "url = \"us-docker.pkg.dev/shared-images/ml/iris@sha256:abc123\"",
    );
    let d = resolve(&text);
    assert!(d.repository.is_none());
    assert!(!d.image.built_here);
    assert!(
        !d.apis
            .iter()
            .any(|a| a.starts_with("cloudbuild") || a.starts_with("artifactregistry"))
    );
}

#[test]
fn a_custom_handler_is_copied_into_the_image_with_what_it_includes() {
    let d = resolve(&example("review-sentiment"));
    let h = d.model.handler.as_ref().unwrap();
    assert_eq!(
        (h.file.as_str(), h.module.as_str(), h.class.as_str()),
        ("serve.py", "serve", "Model")
    );
    assert_eq!(d.model.include, ["labels.json"]);
    // The app runs the handler; the image installs the serving stack and the spec's pins only.
    assert_eq!(d.model.serve_framework, "custom");
    assert!(
        !d.python
            .requirements
            .iter()
            .any(|r| r.starts_with("scikit-learn"))
    );

    let nested = example("review-sentiment").replace("serve.py:Model", "src/text_model.py:Scorer");
    let h = resolve(&nested).model.handler.unwrap();
    assert_eq!(
        (h.file.as_str(), h.module.as_str(), h.class.as_str()),
        ("src/text_model.py", "text_model", "Scorer")
    );
    assert!(resolve(&example("iris-sklearn")).model.handler.is_none());
}

#[test]
fn features_resolve_with_their_type_and_values() {
    let text = example("iris-sklearn").replace(
        "\"petal_width\"]",
        "{ name = \"n\", type = \"integer\" }, \
         { name = \"plan\", type = \"category\", values = [\"free\", \"pro \\\"x\\\"\"] }]",
    );
    let d = resolve(&text);
    let typed: Vec<(&str, &str, Vec<&str>)> = d
        .model
        .features
        .iter()
        .map(|f| {
            let values = f.values.iter().map(String::as_str).collect();
            (f.name.as_str(), f.kind.as_str(), values)
        })
        .collect();
    assert_eq!(
        typed,
        [
            ("sepal_length", "number", vec![]),
            ("sepal_width", "number", vec![]),
            ("petal_length", "number", vec![]),
            ("n", "integer", vec![]),
            ("plan", "category", vec!["free", "pro \"x\""]),
        ]
    );
    // config.json hands the app the same, as JSON (the quote in a value escaped).
    let file = SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text,
    };
    let (_, tree) = pipeline::compile(&file).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(tree.get("app/config.json").unwrap()).unwrap();
    assert_eq!(
        config["features"][4],
        serde_json::json!({"name": "plan", "type": "category", "values": ["free", "pro \"x\""]})
    );
    assert_eq!(
        config["features"][3],
        serde_json::json!({"name": "n", "type": "integer"})
    );
}

#[test]
fn a_dataframe_input_adds_pandas_and_numbers_keep_the_matrix() {
    let has_pandas = |d: &Deployment| {
        d.python
            .requirements
            .iter()
            .any(|r| r.starts_with("pandas=="))
    };
    let numbers = resolve(&example("iris-sklearn"));
    assert_eq!(numbers.model.input, "matrix");
    assert!(!has_pandas(&numbers));
    for edit in [
        "{ name = \"plan\", type = \"category\", values = [\"a\"] }]",
        "\"petal_width\"]\ninput = \"dataframe\"",
    ] {
        let d = resolve(&example("iris-sklearn").replace("\"petal_width\"]", edit));
        assert_eq!(d.model.input, "dataframe", "{edit}");
        assert!(has_pandas(&d), "{edit}: {:?}", d.python.requirements);
    }
}

#[test]
fn output_resolves_to_predict_unless_proba_is_asked_for() {
    assert_eq!(resolve(&example("iris-sklearn")).model.output, "predict");
    let proba =
        example("iris-sklearn").replace("\"petal_width\"]", "\"petal_width\"]\noutput = \"proba\"");
    assert_eq!(resolve(&proba).model.output, "proba");
}

#[test]
fn a_custom_handler_without_a_source_gets_none_and_no_model_grant() {
    // From Cloud Storage, the runtime account may read the model's folder.
    let from_gcs = example("review-sentiment").replace(
        "source = \"sentiment.json\"",
        "source = \"gs://acme-models/sentiment/v1/sentiment.json\"",
    );
    let reads_model = |d: &Deployment| {
        d.iam
            .iter()
            .any(|g| matches!(g.target, IamTarget::Bucket | IamTarget::ManagedFolder))
    };
    assert!(reads_model(&resolve(&from_gcs)));

    let text = example("review-sentiment").replace("source = \"sentiment.json\"\n", "");
    let d = resolve(&text);
    assert_eq!(d.model.file, None);
    assert!(d.volumes.is_empty());
    assert!(!reads_model(&d), "{:#?}", d.iam);
    let file = SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text,
    };
    let (_, tree) = pipeline::compile(&file).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(tree.get("app/config.json").unwrap()).unwrap();
    assert_eq!(config["model_path"], serde_json::Value::Null);
    let dockerfile = tree.get("Dockerfile").unwrap();
    assert!(!dockerfile.contains("/app/model"), "{dockerfile}");
    assert!(dockerfile.contains("load() gets None"), "{dockerfile}");
    assert!(
        !tree
            .get("Dockerfile.dockerignore")
            .unwrap()
            .contains("sentiment.json")
    );
}

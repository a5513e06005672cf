//! Cloud Run's own rules, checked before anything is generated.
//!
//! Every check reports a [`Diagnostic`] that points at the offending value and says what
//! would be valid; all problems are collected so a user fixes them in one pass. Values that
//! later stages need in parsed form (CPU, memory, timeout, model source) come out of here,
//! so they are parsed exactly once.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;

use super::{CpuValue, Framework, Spec};
use crate::diagnostics::{Diagnostic, suggest};
use crate::platform::{GpuType, platform};

/// Values parsed during validation, handed to [`crate::model::resolve`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub millicpu: u32,
    pub memory_mib: u64,
    pub timeout_s: u32,
    pub gpu: Option<&'static GpuType>,
    pub source: ModelSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A file under the spec's folder, copied into the image.
    Local { path: String },
    /// An object in Cloud Storage, mounted read-only.
    Gcs { bucket: String, object: String },
}

struct Checker {
    out: Vec<Diagnostic>,
}

impl Checker {
    fn err(&mut self, key: &str, span: Range<usize>, message: String, help: impl Into<String>) {
        self.out.push(
            Diagnostic::new(key, span, message)
                .label("invalid value")
                .help(help),
        );
    }
}

/// Checks `spec` against Cloud Run, IAM and Artifact Registry rules.
pub fn validate(spec: &Spec) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Checker { out: Vec::new() };
    let p = platform();

    // [service]
    let name = &spec.service.name;
    if !is_service_name(name.get_ref()) {
        c.err(
            "service.name",
            name.span(),
            format!("`{}` is not a valid Cloud Run service name", name.get_ref()),
            format!(
                "use 1-49 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. `{}`",
                slug(name.get_ref(), 49)
            ),
        );
    }
    let project = &spec.service.project;
    if !is_project_id(project.get_ref()) {
        c.err(
            "service.project",
            project.span(),
            format!("`{}` is not a valid GCP project id", project.get_ref()),
            "a project id has 6-30 lowercase letters, digits and hyphens, starts with a letter and does not end with a hyphen",
        );
    }
    let region = &spec.service.region;
    if !p.regions.iter().any(|r| r == region.get_ref()) {
        let hint = suggest(region.get_ref(), p.regions.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        c.err(
            "service.region",
            region.span(),
            format!("`{}` is not a Cloud Run region", region.get_ref()),
            format!("{hint}Cloud Run regions: {}", p.regions.join(", ")),
        );
    }
    if let Some(d) = &spec.service.description {
        check_free_text(&mut c, "service.description", d, 512);
    }
    check_labels(&mut c, spec);

    // [model]
    let source = check_model(&mut c, spec);

    // [container]
    let py = &spec.container.python;
    if !p.python.contains_key(py.get_ref()) {
        c.err(
            "container.python",
            py.span(),
            format!("Python `{}` is not offered", py.get_ref()),
            format!(
                "use one of: {}",
                p.python.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    for r in &spec.container.requirements {
        if !is_pinned_requirement(r.get_ref()) {
            c.err(
                "container.requirements",
                r.span(),
                format!("`{}` is not a pinned requirement", r.get_ref()),
                "pin every package to one version, e.g. `scikit-learn==1.6.1`, so rebuilds are reproducible",
            );
        }
    }
    let port = &spec.container.port;
    if !(1..=65535).contains(port.get_ref()) {
        c.err(
            "container.port",
            port.span(),
            format!("port {} is out of range", port.get_ref()),
            "use a TCP port from 1 to 65535; Cloud Run's default is 8080",
        );
    }
    if let Some(base) = &spec.container.base_image {
        check_image_ref(&mut c, "container.base_image", base);
    }

    // [image]
    check_image(&mut c, spec);

    // [resources]
    let (millicpu, memory_mib, gpu) = check_resources(&mut c, spec);

    // [scaling]
    let s = &spec.scaling;
    if *s.min_instances.get_ref() < 0 {
        c.err(
            "scaling.min_instances",
            s.min_instances.span(),
            "min_instances cannot be negative".into(),
            "use 0 to scale to zero, or a positive number to keep instances warm",
        );
    }
    if !(1..=1000).contains(s.max_instances.get_ref()) {
        c.err(
            "scaling.max_instances",
            s.max_instances.span(),
            format!(
                "max_instances {} is out of range",
                s.max_instances.get_ref()
            ),
            "use 1 to 1000 (your regional quota may be lower)",
        );
    }
    if s.min_instances.get_ref() > s.max_instances.get_ref() {
        c.err(
            "scaling.min_instances",
            s.min_instances.span(),
            format!(
                "min_instances ({}) is greater than max_instances ({})",
                s.min_instances.get_ref(),
                s.max_instances.get_ref()
            ),
            "min_instances must be at most max_instances",
        );
    }
    if !(1..=1000).contains(s.concurrency.get_ref()) {
        c.err(
            "scaling.concurrency",
            s.concurrency.span(),
            format!("concurrency {} is out of range", s.concurrency.get_ref()),
            "Cloud Run accepts 1 to 1000 concurrent requests per instance",
        );
    } else if millicpu < 1000 && *s.concurrency.get_ref() != 1 {
        c.err(
            "scaling.concurrency",
            span_or(s.concurrency.span(), spec.resources.cpu.span()),
            "a fractional CPU needs concurrency 1".into(),
            "set `concurrency = 1`, or use `cpu = 1` or more",
        );
    }
    let timeout_s = match parse_duration(s.timeout.get_ref()) {
        Some(t) if (1..=3600).contains(&t) => t,
        _ => {
            c.err(
                "scaling.timeout",
                s.timeout.span(),
                format!("`{}` is not a valid request timeout", s.timeout.get_ref()),
                "use a duration from `1s` to `3600s`, written in seconds, minutes or hours: `300s`, `15m`, `1h`",
            );
            300
        }
    };

    super::cost::check_cost(spec, &mut c.out);

    // [service_account]
    let sa = &spec.service_account.account_id;
    if !is_account_id(sa.get_ref()) {
        c.err(
            "service_account.account_id",
            sa.span(),
            format!("`{}` is not a valid service account id", sa.get_ref()),
            format!(
                "use 6-30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. `{}`",
                account_suggestion(sa.get_ref())
            ),
        );
    }
    if let Some(d) = &spec.service_account.display_name {
        check_free_text(&mut c, "service_account.display_name", d, 100);
        if d.get_ref().contains('\n') {
            c.err(
                "service_account.display_name",
                d.span(),
                "a display name is one line".into(),
                "remove the line break",
            );
        }
    }

    // [access]
    for (key, list) in [
        ("access.invokers", &spec.access.invokers),
        ("access.deployers", &spec.access.deployers),
    ] {
        let mut seen = BTreeSet::new();
        for m in list {
            if let Err(help) = check_member(m.get_ref()) {
                c.err(
                    key,
                    m.span(),
                    format!("`{}` is not a valid IAM member", m.get_ref()),
                    help,
                );
            } else if !seen.insert(m.get_ref().as_str()) {
                c.err(
                    key,
                    m.span(),
                    format!("`{}` is listed twice", m.get_ref()),
                    "list each member once",
                );
            }
        }
    }
    if spec.access.public && !spec.access.invokers.is_empty() {
        c.err(
            "access.invokers",
            spec.access.invokers[0].span(),
            "invokers have no effect on a public service".into(),
            "`public = true` turns the invoker check off; remove `invokers`, or set `public = false`",
        );
    }

    // [env] and [secrets]
    check_env(&mut c, spec);

    // [serving]
    let sv = &spec.serving;
    if !(1..=4096).contains(sv.max_batch_size.get_ref()) {
        c.err(
            "serving.max_batch_size",
            sv.max_batch_size.span(),
            format!(
                "max_batch_size {} is out of range",
                sv.max_batch_size.get_ref()
            ),
            "use 1 (no batching) to 4096 rows",
        );
    }
    let wait = *sv.max_batch_wait_ms.get_ref();
    if !(0.0..=100.0).contains(&wait) {
        c.err(
            "serving.max_batch_wait_ms",
            sv.max_batch_wait_ms.span(),
            format!("max_batch_wait_ms {wait} is out of range"),
            "use 0 to 100 milliseconds; a few milliseconds is enough to form batches",
        );
    }
    if !(1024..=32 * 1024 * 1024).contains(sv.max_request_bytes.get_ref()) {
        c.err(
            "serving.max_request_bytes",
            sv.max_request_bytes.span(),
            format!(
                "max_request_bytes {} is out of range",
                sv.max_request_bytes.get_ref()
            ),
            "use 1024 to 33554432 (Cloud Run's 32 MiB request limit)",
        );
    }
    if *sv.convert_to_onnx.get_ref() && *spec.model.framework.get_ref() != Framework::Sklearn {
        c.err(
            "serving.convert_to_onnx",
            sv.convert_to_onnx.span(),
            "only sklearn models are converted to ONNX".into(),
            "remove `convert_to_onnx`, or use `framework = \"onnx\"` with an exported model",
        );
    }

    // The conversion runs while the image builds, on the model in the build context; a
    // Cloud Storage model is only mounted when the service runs.
    if *sv.convert_to_onnx.get_ref()
        && let Some(ModelSource::Gcs { .. }) = &source
    {
        c.err(
            "serving.convert_to_onnx",
            sv.convert_to_onnx.span(),
            "a Cloud Storage model cannot be converted while the image builds".into(),
            "use a local model path, or export the model to ONNX and use `framework = \"onnx\"`",
        );
    }

    if let Some(ModelSource::Gcs { .. }) = &source
        && millicpu < 1000
    {
        c.err(
            "model.source",
            spec.model.source.span(),
            "a Cloud Storage model needs the gen2 environment, which needs at least 1 CPU".into(),
            "set `cpu = 1` or more, or bake the model into the image with a local path",
        );
    }

    if c.out.is_empty() {
        Ok(Checked {
            millicpu,
            memory_mib,
            timeout_s,
            gpu,
            source: source.expect("no diagnostics means the source parsed"),
        })
    } else {
        c.out.sort_by_key(|d| d.span.start);
        Err(c.out)
    }
}

fn span_or(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    if a.is_empty() && a.start == 0 { b } else { a }
}

fn check_labels(c: &mut Checker, spec: &Spec) {
    let labels = &spec.service.labels;
    if labels.len() > 64 {
        let first = labels.keys().next().map(|k| k.span()).unwrap_or(0..0);
        c.err(
            "service.labels",
            first,
            format!("{} labels is too many", labels.len()),
            "GCP allows at most 64 labels per resource",
        );
    }
    for (k, v) in labels {
        let key = format!("service.labels.{}", k.get_ref());
        if !is_label(k.get_ref(), true) {
            c.err(
                &key,
                k.span(),
                format!("`{}` is not a valid label key", k.get_ref()),
                "label keys have 1-63 lowercase letters, digits, `_` and `-`, and start with a lowercase letter",
            );
        }
        if !is_label(v.get_ref(), false) {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a valid label value", v.get_ref()),
                "label values have up to 63 lowercase letters, digits, `_` and `-`",
            );
        }
    }
}

fn check_image(c: &mut Checker, spec: &Spec) {
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
        return;
    }
    match &img.repository {
        None => c.out.push(
            Diagnostic::new("image.repository", table_span(spec), "no image repository")
                .label("in this spec")
                .help("add [image] repository = \"ml-models\" and tag = \"1.0.0\" (an Artifact Registry repository, created in the service's region), or url = \"...\" for an image built elsewhere"),
        ),
        Some(repo) if !is_repository_id(repo.get_ref()) => c.err(
            "image.repository",
            repo.span(),
            format!("`{}` is not a valid Artifact Registry repository id", repo.get_ref()),
            "use 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
        ),
        Some(_) => {}
    }
    match &img.tag {
        None => c.out.push(
            Diagnostic::new("image.tag", table_span(spec), "no image tag")
                .label("in this spec")
                .help("add [image] tag = \"1.0.0\"; a new tag makes a new revision"),
        ),
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
        Some(_) => {}
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

/// Where to point an error about a missing key: the service name, which every spec has.
fn table_span(spec: &Spec) -> Range<usize> {
    spec.service.name.span()
}

fn check_model(c: &mut Checker, spec: &Spec) -> Option<ModelSource> {
    let m = &spec.model;
    let src = m.source.get_ref();
    let framework = *m.framework.get_ref();
    let source = if let Some(rest) = src.strip_prefix("gs://") {
        match rest.split_once('/') {
            Some((bucket, object))
                if is_bucket(bucket) && !object.is_empty() && is_safe_path(object) =>
            {
                Some(ModelSource::Gcs {
                    bucket: bucket.to_string(),
                    object: object.to_string(),
                })
            }
            _ => {
                c.err(
                    "model.source",
                    m.source.span(),
                    format!("`{src}` is not a valid Cloud Storage object"),
                    "write `gs://BUCKET/path/to/model`; bucket names have 3-63 lowercase letters, digits, `-`, `_` and `.`; object paths use letters, digits, `.`, `_`, `-` and `/`",
                );
                None
            }
        }
    } else if src.contains("://") {
        c.err(
            "model.source",
            m.source.span(),
            format!("`{src}` is not a supported model location"),
            "use a path relative to the spec's folder (baked into the image) or `gs://bucket/object` (mounted from Cloud Storage)",
        );
        None
    } else if !is_safe_path(src) {
        c.err(
            "model.source",
            m.source.span(),
            format!("`{src}` is not a usable model path"),
            "use a relative path inside the spec's folder, made of letters, digits, `.`, `_`, `-` and `/`, without `..`",
        );
        None
    } else {
        Some(ModelSource::Local {
            path: src.to_string(),
        })
    };
    let exts: &[&str] = match framework {
        Framework::Sklearn => &["joblib", "pkl", "pickle"],
        Framework::Xgboost => &["json", "ubj"],
        Framework::Lightgbm => &["txt", "lgb", "model"],
        Framework::Onnx => &["onnx"],
    };
    if source.is_some() {
        let ext = src.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if !exts.contains(&ext) {
            c.err(
                "model.source",
                m.source.span(),
                format!(
                    "`{src}` does not look like a {} model file",
                    framework.as_str()
                ),
                format!(
                    "a {} model file ends in {}",
                    framework.as_str(),
                    exts.iter()
                        .map(|e| format!("`.{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let features = m.features.get_ref();
    if features.is_empty() {
        c.err(
            "model.features",
            m.features.span(),
            "the model needs at least one feature".into(),
            "list the input columns in the order the model expects them",
        );
    }
    let mut seen = BTreeSet::new();
    for f in features {
        let name = f.get_ref();
        if name.is_empty() || name.len() > 128 || !name.chars().all(is_feature_char) {
            c.err(
                "model.features",
                f.span(),
                format!("`{name}` is not a usable feature name"),
                "use 1-128 letters, digits, `_`, `-`, `.` or spaces",
            );
        } else if !seen.insert(name.as_str()) {
            c.err(
                "model.features",
                f.span(),
                format!("feature `{name}` is listed twice"),
                "list each feature once",
            );
        }
    }
    source
}

fn check_resources(c: &mut Checker, spec: &Spec) -> (u32, u64, Option<&'static GpuType>) {
    let p = platform();
    let r = &spec.resources;
    let millicpu = match parse_cpu(r.cpu.get_ref()) {
        Some(m) => m,
        None => {
            c.err(
                "resources.cpu",
                r.cpu.span(),
                "not a valid Cloud Run CPU value".into(),
                "use a fraction from 0.08 to below 1 (e.g. 0.5), or 1, 2, 4, 6 or 8",
            );
            1000
        }
    };
    let memory_mib = match parse_memory(r.memory.get_ref()) {
        Some(m) => m,
        None => {
            c.err(
                "resources.memory",
                r.memory.span(),
                format!("`{}` is not a memory size", r.memory.get_ref()),
                "write a whole number of MiB or GiB, e.g. `512Mi`, `2Gi`",
            );
            512
        }
    };
    if let Some(bounds) = p.memory_bounds(millicpu)
        && (memory_mib < bounds.min_memory_mib || memory_mib > bounds.max_memory_mib)
    {
        c.err(
            "resources.memory",
            span_or(r.memory.span(), r.cpu.span()),
            format!(
                "{} of memory is not allowed with {} CPU",
                r.memory.get_ref(),
                cpu_text(millicpu)
            ),
            format!(
                "with {} CPU, memory must be {} to {}",
                cpu_text(millicpu),
                mib_text(bounds.min_memory_mib),
                mib_text(bounds.max_memory_mib)
            ),
        );
    }
    let gpu = match &r.gpu {
        None => None,
        Some(g) => match p.gpu(g.get_ref()) {
            None => {
                let kinds: Vec<&str> = p.gpu.iter().map(|g| g.kind.as_str()).collect();
                let hint = suggest(g.get_ref(), kinds.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                c.err(
                    "resources.gpu",
                    g.span(),
                    format!("`{}` is not a Cloud Run GPU type", g.get_ref()),
                    format!("{hint}available: {}", kinds.join(", ")),
                );
                None
            }
            Some(t) => {
                if millicpu < t.min_cpu * 1000 {
                    c.err(
                        "resources.cpu",
                        span_or(r.cpu.span(), g.span()),
                        format!("{} needs at least {} CPU", t.kind, t.min_cpu),
                        format!("set `cpu = {}` or more", t.min_cpu),
                    );
                }
                if memory_mib < u64::from(t.min_memory_gib) * 1024 {
                    c.err(
                        "resources.memory",
                        span_or(r.memory.span(), g.span()),
                        format!("{} needs at least {}Gi of memory", t.kind, t.min_memory_gib),
                        format!("set `memory = \"{}Gi\"` or more", t.min_memory_gib),
                    );
                }
                let region = spec.service.region.get_ref();
                if !t.regions.iter().any(|x| x == region) {
                    c.err(
                        "resources.gpu",
                        g.span(),
                        format!("{} is not offered in {region}", t.kind),
                        format!("{} is offered in: {}", t.kind, t.regions.join(", ")),
                    );
                }
                if let Some(a) = &r.cpu_always_allocated
                    && !*a.get_ref()
                {
                    c.err(
                        "resources.cpu_always_allocated",
                        a.span(),
                        "a GPU service must keep CPU always allocated".into(),
                        "remove `cpu_always_allocated = false`: GPUs need instance-based billing",
                    );
                }
                Some(t)
            }
        },
    };
    if gpu.is_none()
        && r.gpu.is_none()
        && let Some(z) = &r.gpu_zonal_redundancy
    {
        c.err(
            "resources.gpu_zonal_redundancy",
            z.span(),
            "gpu_zonal_redundancy applies only with a GPU".into(),
            "remove it, or set `gpu`",
        );
    }
    (millicpu, memory_mib, gpu)
}

fn check_env(c: &mut Checker, spec: &Spec) {
    let p = platform();
    let total = spec.env.len() + spec.secrets.len();
    if total > 1000 {
        c.err(
            "env",
            0..0,
            format!("{total} environment variables is too many"),
            "Cloud Run allows at most 1000 per container",
        );
    }
    let names = spec
        .env
        .keys()
        .map(|k| ("env", k))
        .chain(spec.secrets.keys().map(|k| ("secrets", k)));
    for (table, k) in names {
        let name = k.get_ref();
        let key = format!("{table}.{name}");
        if !is_env_name(name) {
            c.err(
                &key,
                k.span(),
                format!("`{name}` is not a usable environment variable name"),
                "use letters, digits and `_`, not starting with a digit",
            );
        } else if p.reserved_env.iter().any(|r| r == name)
            || p.reserved_env_prefixes.iter().any(|r| name.starts_with(r))
        {
            c.err(
                &key,
                k.span(),
                format!("`{name}` is reserved"),
                format!(
                    "Cloud Run or the generated app sets it; reserved: {}, and names starting with {}",
                    p.reserved_env.join(", "),
                    p.reserved_env_prefixes.join(", ")
                ),
            );
        }
    }
    for (k, v) in &spec.env {
        let key = format!("env.{}", k.get_ref());
        if spec.secrets.keys().any(|s| s.get_ref() == k.get_ref()) {
            c.err(
                &key,
                k.span(),
                format!("`{}` is set in both [env] and [secrets]", k.get_ref()),
                "keep one of them",
            );
        }
        if looks_like_credential(k.get_ref()) {
            c.err(
                &key,
                k.span(),
                format!("`{}` looks like a credential in plain text", k.get_ref()),
                format!(
                    "store it in Secret Manager and reference it: [secrets] {} = {{ secret = \"...\", version = \"1\" }}",
                    k.get_ref()
                ),
            );
        }
        check_free_text(c, &key, v, 32 * 1024);
    }
    for (k, v) in &spec.secrets {
        let key = format!("secrets.{}", k.get_ref());
        let s = v.get_ref();
        if !is_secret_id(&s.secret) {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a valid Secret Manager secret id", s.secret),
                "use 1-255 letters, digits, `_` and `-`",
            );
        }
        if s.version == "latest" {
            c.err(
                &key,
                v.span(),
                "secret version `latest` is not pinned".into(),
                "env secrets are read when an instance starts; pin a version number such as `version = \"3\"` so every instance sees the same value",
            );
        } else if s.version.is_empty()
            || !s.version.chars().all(|ch| ch.is_ascii_digit())
            || s.version.starts_with('0')
        {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a secret version", s.version),
                "use a version number such as `version = \"3\"`",
            );
        }
    }
}

/// Free text may hold anything printable, newlines and tabs included, but no other
/// control characters: they have no faithful form in every target.
fn check_free_text(c: &mut Checker, key: &str, v: &Spanned<String>, max: usize) {
    let s = v.get_ref();
    if let Some(ch) = s
        .chars()
        .find(|ch| ch.is_control() && *ch != '\n' && *ch != '\t')
    {
        c.err(
            key,
            v.span(),
            format!(
                "the value contains the control character U+{:04X}",
                ch as u32
            ),
            "free text may hold printable characters, tabs and newlines only",
        );
    }
    if s.len() > max {
        c.err(
            key,
            v.span(),
            format!("the value is {} bytes long", s.len()),
            format!("keep it under {max} bytes"),
        );
    }
}

fn check_image_ref(c: &mut Checker, key: &str, v: &Spanned<String>) {
    let s = v.get_ref();
    let host = s.split('/').next().unwrap_or("");
    if host == "gcr.io" || host.ends_with(".gcr.io") {
        c.err(
            key,
            v.span(),
            format!("`{s}` is in Container Registry, which is shut down"),
            "use Artifact Registry: REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG",
        );
        return;
    }
    let ok = !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "./-_:@".contains(ch))
        && (s.contains('@') || s.rsplit('/').next().is_some_and(|last| last.contains(':')));
    if !ok {
        c.err(
            key,
            v.span(),
            format!("`{s}` is not a pinned image reference"),
            "write HOST/PATH:TAG or HOST/PATH@sha256:DIGEST",
        );
    }
}

/// Checks IAM member syntax; returns what would be valid on error.
fn check_member(m: &str) -> Result<(), String> {
    const KINDS: [&str; 5] = ["user", "group", "serviceAccount", "domain", "principal"];
    if m == "allUsers" || m == "allAuthenticatedUsers" {
        return Err(
            "mlgen never grants access to everyone; for a public service set `public = true`, which turns the invoker check off".into(),
        );
    }
    if m.starts_with("principal://") || m.starts_with("principalSet://") {
        return if m.chars().all(|c| c.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("a principal URI has no spaces or control characters".into())
        };
    }
    let Some((kind, id)) = m.split_once(':') else {
        return Err(format!(
            "write TYPE:ID, e.g. `group:ml-clients@example.com`; types: {}",
            KINDS[..4].join(", ")
        ));
    };
    let ok = match kind {
        "user" | "group" | "serviceAccount" => is_email(id),
        "domain" => is_domain(id),
        _ => {
            let hint = suggest(kind, KINDS[..4].iter().copied())
                .map(|s| format!("did you mean `{s}:`? "))
                .unwrap_or_default();
            return Err(format!(
                "{hint}member types are {}, principal:// and principalSet://",
                KINDS[..4].join(", ")
            ));
        }
    };
    if !ok {
        return Err(if kind == "domain" {
            "a domain member looks like `domain:example.com`".into()
        } else {
            format!("`{kind}:` needs an email address, e.g. `{kind}:name@example.com`")
        });
    }
    if kind == "serviceAccount" && !id.ends_with(".gserviceaccount.com") {
        return Err(
            "service account emails end in `.gserviceaccount.com` (ID@PROJECT.iam.gserviceaccount.com)".into(),
        );
    }
    Ok(())
}

fn looks_like_credential(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.ends_with("_TOKEN")
        || n.ends_with("_KEY")
        || n == "TOKEN"
        || n.contains("PASSWORD")
        || n.contains("PASSWD")
        || n.contains("SECRET")
        || n.ends_with("CREDENTIALS")
}

fn is_service_name(s: &str) -> bool {
    dns_like(s, 1, 49)
}

fn is_project_id(s: &str) -> bool {
    dns_like(s, 6, 30)
}

fn is_account_id(s: &str) -> bool {
    dns_like(s, 6, 30)
}

fn is_repository_id(s: &str) -> bool {
    // No authoritative regex is published; this is the conservative form.
    dns_like(s, 1, 63)
}

/// Lowercase letter first, then lowercase letters, digits and hyphens, no trailing hyphen.
fn dns_like(s: &str, min: usize, max: usize) -> bool {
    let b = s.as_bytes();
    (min..=max).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

fn is_label(s: &str, key: bool) -> bool {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if key {
        !s.is_empty() && s.len() <= 63 && s.as_bytes()[0].is_ascii_lowercase() && ok_chars
    } else {
        s.len() <= 63 && ok_chars
    }
}

fn is_bucket(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
        && !s.starts_with("goog")
}

/// A relative path that stays inside its root and is safe in every target unquoted.
fn is_safe_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && s.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn is_image_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn is_feature_char(c: char) -> bool {
    c.is_alphanumeric() || "_-. ".contains(c)
}

fn is_env_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn is_secret_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && is_domain(domain)
        }
        None => false,
    }
}

fn is_domain(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_pinned_requirement(s: &str) -> bool {
    let Some((name, version)) = s.split_once("==") else {
        return false;
    };
    let name = match name.split_once('[') {
        Some((n, extras)) => {
            if !extras.ends_with(']')
                || !extras[..extras.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
            {
                return false;
            }
            n
        }
        None => name,
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+!-".contains(c))
}

/// CPU in millicores, if it is a value Cloud Run accepts.
fn parse_cpu(v: &CpuValue) -> Option<u32> {
    let text = match v {
        CpuValue::Int(i) => i.to_string(),
        CpuValue::Float(f) => format!("{f}"),
        CpuValue::Text(t) => t.trim().to_string(),
    };
    let milli = if let Some(m) = text.strip_suffix('m') {
        m.parse::<u32>().ok()?
    } else {
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let whole: u32 = whole.parse().ok()?;
        let frac_m: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        whole.checked_mul(1000)?.checked_add(frac_m)?
    };
    match milli {
        80..=999 => Some(milli),
        1000 | 2000 | 4000 | 6000 | 8000 => Some(milli),
        _ => None,
    }
}

/// Memory in MiB from `NNNMi` / `NGi`.
fn parse_memory(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("Gi") {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix("Mi") {
        (n, 1)
    } else {
        return None;
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) || num.len() > 7 {
        return None;
    }
    num.parse::<u64>().ok().map(|n| n * mult).filter(|n| *n > 0)
}

/// Seconds from `300s`, `15m` or `1h`.
fn parse_duration(s: &str) -> Option<u32> {
    let (num, mult) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1),
        'm' => (&s[..s.len() - 1], 60),
        'h' => (&s[..s.len() - 1], 3600),
        _ => return None,
    };
    if num.is_empty() || num.len() > 6 || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<u32>().ok().map(|n| n * mult)
}

pub fn cpu_text(milli: u32) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        let s = format!("{}.{:03}", milli / 1000, milli % 1000);
        s.trim_end_matches('0').to_string()
    }
}

pub fn mib_text(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

fn slug(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(max);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() || !out.as_bytes()[0].is_ascii_lowercase() {
        format!("svc-{out}").trim_end_matches('-').to_string()
    } else {
        out
    }
}

fn account_suggestion(s: &str) -> String {
    let mut out = slug(s, 30);
    while out.len() < 6 {
        out.push_str("-sa");
    }
    out.truncate(30);
    out.trim_end_matches('-').to_string()
}

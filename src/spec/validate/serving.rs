//! `[serving]`: how the generated app batches and bounds requests, and the ONNX conversion.

use super::{Checker, ModelSource};
use crate::spec::{Framework, Spec};

pub(super) fn check(c: &mut Checker, spec: &Spec, source: Option<&ModelSource>) {
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
    if *sv.convert_to_onnx.get_ref() {
        check_conversion(c, spec, source);
    }
}

fn check_conversion(c: &mut Checker, spec: &Spec, source: Option<&ModelSource>) {
    let span = spec.serving.convert_to_onnx.span();
    if *spec.model.framework.get_ref() != Framework::Sklearn {
        c.err(
            "serving.convert_to_onnx",
            span.clone(),
            "only sklearn models are converted to ONNX".into(),
            "remove `convert_to_onnx`, or use `framework = \"onnx\"` with an exported model",
        );
    }
    // The conversion runs while the image builds, on the model in the build context; a
    // Cloud Storage model is only mounted when the service runs.
    if let Some(ModelSource::Gcs { .. }) = source {
        c.err(
            "serving.convert_to_onnx",
            span,
            "a Cloud Storage model cannot be converted while the image builds".into(),
            "use a local model path, or export the model to ONNX and use `framework = \"onnx\"`",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{edited, keys};
    use super::*;

    const SERVING: &str = "\n[serving]\nconvert_to_onnx = true\n";

    #[test]
    fn ranges_and_conversion() {
        let local = ModelSource::Local { path: "m".into() };
        let s = edited(&[(
            "LOG_LEVEL = \"info\"\n",
            &format!("LOG_LEVEL = \"info\"\n{SERVING}"),
        )]);
        assert!(keys(|c| check(c, &s, Some(&local))).is_empty());
        let gcs = ModelSource::Gcs {
            bucket: "b".into(),
            object: "o".into(),
        };
        assert_eq!(
            keys(|c| check(c, &s, Some(&gcs))),
            ["serving.convert_to_onnx"]
        );
        let s = edited(&[("LOG_LEVEL = \"info\"\n", "[serving]\nmax_batch_size = 0\n")]);
        assert_eq!(
            keys(|c| check(c, &s, Some(&local))),
            ["serving.max_batch_size"]
        );
    }
}

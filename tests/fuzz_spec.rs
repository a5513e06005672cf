//! mlgen never panics on any spec text: every input ends in files or in a located error.
//!
//! The default case count keeps the suite quick; set `PROPTEST_CASES=100000` for a long
//! run. Free text with hostile characters must always render (it is escaped, never
//! refused by a template). Carriage returns are refused by validation, so they are not in
//! the hostile alphabet here.

use std::path::PathBuf;

use mlgen::error::Error;
use mlgen::pipeline;
use mlgen::spec::SourceFile;
use proptest::prelude::*;

const BASE: &str = include_str!("../examples/fraud-onnx-gcs/mlgen.toml");

/// Compiles `text`; panics are turned into a test failure naming the input.
fn compile(text: &str) -> Result<(), Error> {
    let file = SourceFile {
        path: PathBuf::from("fuzz/mlgen.toml"),
        text: text.to_string(),
    };
    match std::panic::catch_unwind(|| pipeline::compile(&file).map(|_| ())) {
        Ok(r) => r,
        Err(_) => panic!("mlgen panicked on:\n{text}"),
    }
}

/// Characters that break out of strings in at least one target language.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "\"", "'", "\\", "$", "${", "%{", "`", "$(", ")", "\n", "\t", ",", "=", "^", "#", "{{",
        "}}", "{%", "%}", "{#", "é", "日本", "\u{2028}", " ", "a", "Z", "0", ";", "&", "|", "*",
        "~", "\\n", "\\\"", "'''", "\"\"\"",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

/// A TOML basic string holding `s` exactly.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let r = compile(&text);
        prop_assert!(matches!(r, Err(Error::Spec { .. })), "{r:?}");
    }

    #[test]
    fn mutated_specs_never_panic(
        cut in 0..BASE.len(),
        len in 0usize..40,
        insert in hostile(),
    ) {
        let mut cut = cut;
        while !BASE.is_char_boundary(cut) { cut -= 1; }
        let mut end = (cut + len).min(BASE.len());
        while !BASE.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &BASE[..cut], insert, &BASE[end..]);
        match compile(&text) {
            Ok(()) | Err(Error::Spec { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error kind: {e}"),
        }
    }

    #[test]
    fn hostile_free_text_always_renders(desc in hostile(), value in hostile(), display in hostile()) {
        let display = display.replace(['\n', '\r'], " ");
        let text = BASE
            .replace(
                "description = \"Card fraud scoring: returns P(fraud) per transaction\"",
                &format!("description = {}", toml_string(&desc)),
            )
            .replace("SCORE_THRESHOLD = \"0.82\"", &format!("SCORE_THRESHOLD = {}", toml_string(&value)))
            .replace(
                "display_name = \"Fraud scorer runtime\"",
                &format!("display_name = {}", toml_string(&display)),
            );
        let r = compile(&text);
        prop_assert!(r.is_ok(), "{r:?}");
    }
}

//! mlgen never panics on any spec text: every input ends in files or in a located error.
//! Every error diagnostic points inside the text and says something; a valid spec renders
//! the same files every time, whatever its layout: table order, comments, blank lines.
//!
//! The default case count keeps the suite quick; set `PROPTEST_CASES=100000` for a long
//! run. Free text with hostile characters must always render (it is escaped, never
//! refused by a template). Carriage returns are refused by validation, so they are not in
//! the hostile alphabet here.

use std::path::PathBuf;

use mlgen::diagnostics::Diagnostic;
use mlgen::error::Error;
use mlgen::pipeline;
use mlgen::spec::SourceFile;
use mlgen::tree::Tree;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const BASE: &str = include_str!("../examples/fraud-onnx-gcs/mlgen.toml");
const PATH: &str = "fuzz/mlgen.toml";

/// Compiles `text` into its files; panics are turned into a test failure naming the input,
/// and an invalid spec must come with well-formed diagnostics.
fn compile(text: &str) -> Result<Result<Tree, Error>, TestCaseError> {
    let file = SourceFile {
        path: PathBuf::from(PATH),
        text: text.to_string(),
    };
    let r = match std::panic::catch_unwind(|| pipeline::compile(&file).map(|(_, tree)| tree)) {
        Ok(r) => r,
        Err(_) => panic!("mlgen panicked on:\n{text}"),
    };
    match &r {
        Ok(_) => {}
        Err(Error::Spec {
            diagnostics,
            rendered,
            ..
        }) => well_formed(text, diagnostics, rendered)?,
        Err(e) => prop_assert!(false, "unexpected error kind: {e}"),
    }
    Ok(r)
}

/// At least one diagnostic, in text order, each with a message and a span inside the
/// text on character boundaries; the report names the file.
fn well_formed(text: &str, ds: &[Diagnostic], rendered: &str) -> Result<(), TestCaseError> {
    prop_assert!(!ds.is_empty(), "an error without diagnostics for:\n{text}");
    for d in ds {
        let (start, end) = (d.span.start, d.span.end);
        prop_assert!(
            start <= end && end <= text.len(),
            "{d:?} is outside the text"
        );
        prop_assert!(
            text.is_char_boundary(start) && text.is_char_boundary(end),
            "{d:?} splits a character"
        );
        prop_assert!(!d.message.trim().is_empty(), "{d:?} has no message");
    }
    prop_assert!(
        ds.is_sorted_by_key(|d| d.span.start),
        "{ds:#?} are out of order"
    );
    prop_assert!(rendered.contains(PATH), "the report does not name the file");
    Ok(())
}

/// The tree of a spec that must be valid.
fn valid(text: &str) -> Result<Tree, TestCaseError> {
    match compile(text)? {
        Ok(tree) => Ok(tree),
        Err(e) => Err(TestCaseError::fail(format!("{text}\nshould be valid: {e}"))),
    }
}

/// BASE cut into its leading comment and one block per table.
fn tables() -> Vec<String> {
    let mut blocks: Vec<String> = BASE.split("\n[").map(str::to_string).collect();
    for b in &mut blocks[1..] {
        b.insert(0, '[');
    }
    blocks
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
    fn arbitrary_text_is_refused_with_located_errors(text in any::<String>()) {
        let r = compile(&text)?;
        prop_assert!(r.is_err(), "arbitrary text compiled:\n{text}");
    }

    #[test]
    fn mutated_specs_render_the_same_twice_or_are_located(
        cut in 0..BASE.len(),
        len in 0usize..40,
        insert in hostile(),
    ) {
        let mut cut = cut;
        while !BASE.is_char_boundary(cut) { cut -= 1; }
        let mut end = (cut + len).min(BASE.len());
        while !BASE.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &BASE[..cut], insert, &BASE[end..]);
        if let Ok(tree) = compile(&text)? {
            prop_assert_eq!(tree, valid(&text)?);
        }
    }

    #[test]
    fn table_order_comments_and_blank_lines_do_not_change_the_files(
        order in Just(tables()[1..].to_vec()).prop_shuffle(),
        extra in prop::collection::vec(prop::sample::select(vec!["", "\n", "# note = 1\n", "  \n"]), 64),
    ) {
        let shuffled = format!("{}\n{}\n", tables()[0], order.join("\n"));
        let mut text = String::new();
        for (line, pad) in shuffled.lines().zip(extra.iter().cycle()) {
            text.push_str(line);
            text.push('\n');
            text.push_str(pad);
        }
        prop_assert_eq!(valid(&text)?, valid(BASE)?);
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
        prop_assert_eq!(valid(&text)?, valid(&text)?);
    }
}

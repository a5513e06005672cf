//! One escaper per output language. askama applies them to every `{{ value }}` by the
//! template's extension (askama.toml); a template cannot print a raw spec value by accident.
//!
//! Quoting escapers (`HclString`, `PyString`, `JsonString`) write the *inside* of a
//! double-quoted string: templates write the quotes. `PosixShell` writes a complete shell
//! word. `Word` is for languages without a faithful escape (Dockerfile, ignore files,
//! requirements): it refuses anything but a conservative character set, so only values that
//! validation already restricted can land there.

use std::fmt::{self, Write};

use askama::filters::Escaper;

/// Inside an HCL quoted string: `\`, `"`, control characters, and the `${` / `%{`
/// template sequences (doubled to `$${` / `%%{`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HclString;

impl Escaper for HclString {
    fn write_escaped_str<W: Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => dest.write_str("\\\\")?,
                '"' => dest.write_str("\\\"")?,
                '\n' => dest.write_str("\\n")?,
                '\r' => dest.write_str("\\r")?,
                '\t' => dest.write_str("\\t")?,
                '$' | '%' if chars.peek() == Some(&'{') => {
                    dest.write_char(c)?;
                    dest.write_char(c)?;
                }
                c if c.is_control() => write!(dest, "\\u{:04X}", c as u32)?,
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A complete POSIX shell word: bare when every character is safe (Python's
/// `shlex.quote` set), otherwise single-quoted with `'` written as `'\''`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PosixShell;

fn is_shell_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c)
}

impl Escaper for PosixShell {
    fn write_escaped_str<W: Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        if !s.is_empty() && s.chars().all(is_shell_safe) {
            return dest.write_str(s);
        }
        dest.write_char('\'')?;
        for (i, part) in s.split('\'').enumerate() {
            if i > 0 {
                dest.write_str("'\\''")?;
            }
            dest.write_str(part)?;
        }
        dest.write_char('\'')
    }
}

/// Inside a Python double-quoted string literal (not an f-string).
#[derive(Debug, Clone, Copy, Default)]
pub struct PyString;

impl Escaper for PyString {
    fn write_escaped_str<W: Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\\' => dest.write_str("\\\\")?,
                '"' => dest.write_str("\\\"")?,
                '\'' => dest.write_str("\\'")?,
                '\n' => dest.write_str("\\n")?,
                '\r' => dest.write_str("\\r")?,
                '\t' => dest.write_str("\\t")?,
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                    write!(dest, "\\U{:08x}", c as u32)?
                }
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Inside a JSON double-quoted string; also a valid YAML double-quoted scalar.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonString;

impl Escaper for JsonString {
    fn write_escaped_str<W: Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\\' => dest.write_str("\\\\")?,
                '"' => dest.write_str("\\\"")?,
                '\n' => dest.write_str("\\n")?,
                '\r' => dest.write_str("\\r")?,
                '\t' => dest.write_str("\\t")?,
                // YAML treats these as line breaks even inside quotes; JSON accepts the escape.
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{85}' => {
                    write!(dest, "\\u{:04x}", c as u32)?
                }
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A bare word in a language with no faithful escape (Dockerfile, ignore files,
/// requirements.txt). Anything outside `[A-Za-z0-9._/:@=+,-]` fails the render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Word;

pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._/:@=+,-[]".contains(c)
}

impl Escaper for Word {
    fn write_escaped_str<W: Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        if s.chars().all(is_word_char) {
            dest.write_str(s)
        } else {
            Err(fmt::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(e: impl Escaper, s: &str) -> Result<String, fmt::Error> {
        let mut out = String::new();
        e.write_escaped_str(&mut out, s)?;
        Ok(out)
    }

    #[test]
    fn hcl_doubles_template_sequences_only() {
        assert_eq!(
            esc(HclString, "a${b}%{c}$d\"\\\n").unwrap(),
            "a$${b}%%{c}$d\\\"\\\\\\n"
        );
    }

    #[test]
    fn shell_quotes_unless_safe() {
        assert_eq!(esc(PosixShell, "abc-1.2").unwrap(), "abc-1.2");
        assert_eq!(esc(PosixShell, "").unwrap(), "''");
        assert_eq!(esc(PosixShell, "it's $(x)").unwrap(), "'it'\\''s $(x)'");
    }

    #[test]
    fn python_escapes_quotes_and_controls() {
        assert_eq!(
            esc(PyString, "a\"b'c\\\n\u{1}").unwrap(),
            "a\\\"b\\'c\\\\\\n\\U00000001"
        );
    }

    #[test]
    fn json_escapes_yaml_line_breaks() {
        assert_eq!(esc(JsonString, "x\u{2028}\"").unwrap(), "x\\u2028\\\"");
    }

    #[test]
    fn word_refuses_spaces_and_quotes() {
        assert!(esc(Word, "models/iris.joblib").is_ok());
        assert!(esc(Word, "a b").is_err());
        assert!(esc(Word, "a\"b").is_err());
        assert!(esc(Word, "$HOME").is_err());
    }
}

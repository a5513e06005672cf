//! A set of generated files: relative path to normalised content.

use std::collections::BTreeMap;

/// Generated files keyed by `/`-separated relative path, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, String>,
}

impl Tree {
    /// Adds a file; content is normalised (LF endings, exactly one final newline).
    pub fn add(&mut self, path: impl Into<String>, content: &str) {
        let path = path.into();
        debug_assert!(
            is_relative_path(&path),
            "generated path {path} escapes the tree"
        );
        self.files.insert(path, normalise(content));
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// LF line endings, no trailing blank lines, exactly one final newline. askama drops a
/// template's last newline, so every file goes through here once.
pub fn normalise(content: &str) -> String {
    let mut s = content.replace("\r\n", "\n");
    let trimmed = s.trim_end_matches('\n').len();
    s.truncate(trimmed);
    s.push('\n');
    s
}

/// A path that stays inside its root: relative, no `.`/`..`/empty components.
pub fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_line_endings_and_final_newline() {
        assert_eq!(normalise("a\r\nb"), "a\nb\n");
        assert_eq!(normalise("a\n\n\n"), "a\n");
    }

    #[test]
    fn rejects_escaping_paths() {
        assert!(is_relative_path("app/server.py"));
        assert!(!is_relative_path("../x"));
        assert!(!is_relative_path("/etc/passwd"));
        assert!(!is_relative_path("a//b"));
    }
}

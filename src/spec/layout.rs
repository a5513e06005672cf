//! Where each top-level table of a spec sits in its text, so that an error about what a
//! table lacks can point at the table, or at the end of the file where it would go.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, Default)]
pub struct Layout {
    tables: BTreeMap<String, Range<usize>>,
    end: usize,
}

impl Layout {
    /// The layout of a parsed document whose text is `len` bytes long.
    pub fn of(root: &DeTable, len: usize) -> Self {
        let tables = root
            .iter()
            .filter(|(_, v)| matches!(v.get_ref(), DeValue::Table(_)))
            .map(|(k, _)| (k.get_ref().to_string(), k.span()))
            .collect();
        Layout { tables, end: len }
    }

    /// The span of table `name`'s key, if the text has that table.
    pub fn table(&self, name: &str) -> Option<Range<usize>> {
        self.tables.get(name).cloned()
    }

    /// The empty span at the end of the text, where a missing table would go.
    pub fn end(&self) -> Range<usize> {
        self.end..self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_found_by_name_and_the_end_follows_the_text() {
        let text = "[service]\nname = \"x\"\n[env]\nA = \"b\"\n";
        let root = DeTable::parse(text).unwrap();
        let layout = Layout::of(root.get_ref(), text.len());
        assert_eq!(&text[layout.table("env").unwrap()], "env");
        assert_eq!(&text[layout.table("service").unwrap()], "service");
        assert_eq!(layout.table("image"), None);
        assert_eq!(layout.end(), text.len()..text.len());
    }
}

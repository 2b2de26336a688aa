//! Secret values stay out of diagnostics: a file's snippet (miette draws the lines around an
//! error) and a message (serde quotes the value it rejects: `invalid type: string "…"`)
//! would otherwise print a Secret's `data` or `stringData` to the terminal.
//!
//! The loader marks the byte range of every value of a Secret document except its
//! `apiVersion`, `kind`, `type`, `metadata` and `immutable` (so a misspelt `strinData` is
//! covered too). Snippets show those bytes as `*`; messages lose every occurrence of a
//! marked value. A file that looks like it holds a Secret but whose values could not be
//! located (a syntax error stops the parse first) is shown without snippets.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use toml::de::{DeTable, DeValue};

/// The fields of a Secret document that hold no value.
const PLAIN_FIELDS: [&str; 5] = ["apiVersion", "kind", "type", "metadata", "immutable"];

/// Marked values shorter than this are not masked in messages (a one-letter value would
/// mask half of every message); snippets mask them all the same.
const MIN_MASKED_LEN: usize = 4;

/// The marks of one file, shared by its clones.
#[derive(Clone, Default)]
pub struct Redaction(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// The text has a line `kind = "Secret"` (TOML) or `kind: Secret` (YAML).
    may_hold_secrets: bool,
    marks: Mutex<Marks>,
    masked: OnceLock<String>,
}

#[derive(Default)]
struct Marks {
    located: bool,
    ranges: Vec<Range<usize>>,
}

impl Redaction {
    pub fn for_text(text: &str) -> Redaction {
        Redaction(Arc::new(Inner {
            may_hold_secrets: text.lines().any(names_secret_kind),
            ..Default::default()
        }))
    }

    pub fn add(&self, ranges: impl IntoIterator<Item = Range<usize>>) {
        let mut marks = self.0.marks.lock().unwrap_or_else(|p| p.into_inner());
        marks.located = true;
        marks.ranges.extend(ranges);
        debug_assert!(
            self.0.masked.get().is_none(),
            "marked after a snippet was drawn"
        );
    }

    /// Whether snippets may be drawn: the file holds no Secret, or its values are marked.
    pub fn located(&self) -> bool {
        !self.0.may_hold_secrets || self.marks().located
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.0.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `text` with every marked byte as `*` (newlines and the value's quotes kept, so lines,
    /// columns and carets stay where they were).
    pub fn masked_text<'a>(&'a self, text: &'a str) -> &'a str {
        if self.marks().ranges.is_empty() {
            return text;
        }
        self.0.masked.get_or_init(|| {
            let mut bytes = text.as_bytes().to_vec();
            for range in &self.marks().ranges {
                let end = range.end.min(bytes.len());
                for b in &mut bytes[range.start.min(end)..end] {
                    if !matches!(*b, b'\n' | b'"' | b'\'') {
                        *b = b'*';
                    }
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    /// `message` with each marked value (as written, and without its quotes) replaced.
    pub fn mask_message<'m>(&self, text: &str, message: &'m str) -> Cow<'m, str> {
        let marks = self.marks();
        let mut out = Cow::Borrowed(message);
        for range in &marks.ranges {
            let Some(raw) = text.get(range.clone()) else {
                continue;
            };
            let inner = raw.trim_matches(|c| c == '"' || c == '\'');
            for value in [raw, inner] {
                if value.len() >= MIN_MASKED_LEN && out.contains(value) {
                    out = Cow::Owned(out.replace(value, "<redacted>"));
                }
            }
        }
        out
    }
}

/// `kind = "Secret"`, `kind: Secret`, `kind: "Secret"`.
fn names_secret_kind(line: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix("kind") else {
        return false;
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) else {
        return false;
    };
    rest.trim().trim_matches(|c| c == '"' || c == '\'') == "Secret"
}

/// The byte ranges of every value of a Secret document (its leaves, so keys stay visible).
pub fn secret_value_ranges(document: &DeTable<'_>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for (key, value) in document {
        match key.get_ref().as_ref() {
            k if PLAIN_FIELDS.contains(&k) => {}
            "dsctl" => dsctl_leaves(value, &mut out),
            _ => leaves(value, &mut out),
        }
    }
    out
}

/// The `[dsctl.valueFrom]` sources: an environment variable's name and a file's path say where
/// a value is, not what it is, and an error about them must name them; a command's argv stays
/// masked (it may carry a value inline).
fn dsctl_leaves(value: &toml::Spanned<DeValue<'_>>, out: &mut Vec<Range<usize>>) {
    let DeValue::Table(dsctl) = value.get_ref() else {
        return leaves(value, out);
    };
    for (key, section) in dsctl {
        match (key.get_ref().as_ref(), section.get_ref()) {
            ("valueFrom", DeValue::Table(sources)) => {
                for (_, source) in sources {
                    match source.get_ref() {
                        DeValue::Table(fields) => {
                            for (field, v) in fields {
                                if !matches!(field.get_ref().as_ref(), "env" | "file") {
                                    leaves(v, out);
                                }
                            }
                        }
                        _ => leaves(source, out),
                    }
                }
            }
            _ => leaves(section, out),
        }
    }
}

fn leaves(value: &toml::Spanned<DeValue<'_>>, out: &mut Vec<Range<usize>>) {
    match value.get_ref() {
        DeValue::Table(table) => {
            for (_, v) in table {
                leaves(v, out);
            }
        }
        DeValue::Array(array) => {
            for v in array {
                leaves(v, out);
            }
        }
        _ => out.push(value.span()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"apiVersion = "v1"
kind = "Secret"
type = "Opaque"
[metadata]
name = "app"
[stringData]
password = "hunter2-hunter2"
pin = "42"
[strinData]
typo = "misspelt-value"
[dsctl.valueFrom]
cmd = { command = ["pass", "show", "prod/key"] }
key = { env = "API_KEY_VAR" }
"#;

    fn marked() -> Redaction {
        let table = DeTable::parse(DOC).unwrap();
        let r = Redaction::for_text(DOC);
        r.add(secret_value_ranges(table.get_ref()));
        r
    }

    #[test]
    fn values_are_masked_and_keys_names_and_lines_are_kept() {
        let r = marked();
        let masked = r.masked_text(DOC);
        assert_eq!(masked.len(), DOC.len());
        assert_eq!(masked.lines().count(), DOC.lines().count());
        for gone in ["hunter2", "misspelt", "\"42\"", "prod/key"] {
            assert!(!masked.contains(gone), "{gone}: {masked}");
        }
        for kept in [
            "kind = \"Secret\"",
            "type = \"Opaque\"",
            "name = \"app\"",
            "password = \"***************\"",
            "pin = \"**\"",
            "typo = ",
            "env = \"API_KEY_VAR\"",
        ] {
            assert!(masked.contains(kept), "{kept}: {masked}");
        }
    }

    #[test]
    fn messages_lose_marked_values() {
        let r = marked();
        assert_eq!(
            r.mask_message(
                DOC,
                "invalid type: string \"hunter2-hunter2\", expected a table"
            ),
            "invalid type: string <redacted>, expected a table"
        );
        assert_eq!(
            r.mask_message(DOC, "unknown field `strinData` (misspelt-value)"),
            "unknown field `strinData` (<redacted>)"
        );
        // Short values mask only in snippets: "42" would hit line numbers.
        assert_eq!(r.mask_message(DOC, "at line 42"), "at line 42");
    }

    #[test]
    fn a_secret_file_that_did_not_parse_shows_no_snippet() {
        assert!(!Redaction::for_text("kind = \"Secret\"\n[data\n").located());
        assert!(!Redaction::for_text("kind: Secret\n").located());
        assert!(!Redaction::for_text("  kind: 'Secret'\n").located());
        assert!(Redaction::for_text("kind = \"DaemonSet\"\n# kind of Secret\n").located());
        assert!(marked().located());
    }
}

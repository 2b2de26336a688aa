//! Diagnostics about what the user wrote: a message about one Kubernetes field, located in
//! its TOML file (line, column and a caret under the value), rendered with miette.
//!
//! Validation works on the model with field paths only (`spec.template.spec.containers[0].name`);
//! [`TomlSpans`] turns such a path back into a byte range of the file, so spans stay out of the
//! pure core.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use toml::de::{DeTable, DeValue};

/// How bad a finding is: errors stop the command, warnings are printed and let it go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One input file as read, shared by every diagnostic about it.
///
/// A file may hold Secret values: the loader marks their byte ranges ([`SourceFile::redact`]),
/// and every snippet and message drawn from the file shows them masked (secret_redaction.rs).
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    redaction: crate::secret_redaction::Redaction,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Clone for SourceFile {
    fn clone(&self) -> Self {
        SourceFile {
            path: self.path.clone(),
            text: self.text.clone(),
            redaction: self.redaction.clone(),
        }
    }
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.text == other.text
    }
}

impl Eq for SourceFile {}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        SourceFile {
            path: path.into(),
            redaction: crate::secret_redaction::Redaction::for_text(&text),
            text,
        }
    }

    /// Marks byte ranges of the text that hold Secret values: never shown.
    pub fn redact(&self, ranges: impl IntoIterator<Item = Range<usize>>) {
        self.redaction.add(ranges);
    }

    /// `message` with every marked value masked.
    pub fn mask<'a>(&self, message: &'a str) -> std::borrow::Cow<'a, str> {
        self.redaction.mask_message(&self.text, message)
    }

    /// Whether a snippet of the file may be shown: not for a file that may hold a Secret
    /// whose values could not be located (a syntax error stopped the parse).
    fn shows_snippets(&self) -> bool {
        self.redaction.located()
    }

    /// The path as the user gave it, for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// 1-based line and column (in characters) of a byte offset, as editors count them.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text: &str = self.redaction.masked_text(&self.text);
        let inner = text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A message about one field of one file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: Arc<SourceFile>,
    /// Byte range in `file.text`; `None` when there is no text to point into (e.g. an
    /// unreadable file).
    pub span: Option<Range<usize>>,
    /// The Kubernetes field path, e.g. `spec.template.spec.containers[0].ports[1].containerPort`;
    /// empty for file-level problems.
    pub field: String,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        file: &Arc<SourceFile>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: Arc::clone(file),
            span: None,
            field: field.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(
        file: &Arc<SourceFile>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, field, message)
        }
    }

    pub fn with_span(mut self, span: Option<Range<usize>>) -> Self {
        self.span = span;
        self
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// `file:line:column`, or just `file` without a span.
    pub fn location(&self) -> String {
        match &self.span {
            Some(span) => {
                let (line, col) = self.file.line_col(span.start);
                format!("{}:{line}:{col}", self.file.name())
            }
            None => self.file.name(),
        }
    }

    /// The span miette draws: never past the end of the text, so the caret always shows.
    fn drawable_span(&self) -> Option<SourceSpan> {
        let span = self.span.clone()?;
        let len = self.file.text.len();
        if len == 0 {
            return None;
        }
        let start = floor_char_boundary(&self.file.text, span.start.min(len));
        let end = span.end.clamp(start, len);
        if start == len {
            // At the very end (e.g. an unterminated string): point at the last character.
            let last = floor_char_boundary(&self.file.text, len - 1);
            return Some((last, len - last).into());
        }
        Some((start, end - start).into())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.span.is_none() {
            write!(f, "{}: ", self.file.name())?;
        } else if !self.file.shows_snippets() {
            // No snippet, so miette draws no location: the headline carries it.
            write!(f, "{}: ", self.location())?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.file.mask(&self.message))
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(self.file.mask(h).into_owned()) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        if !self.file.shows_snippets() {
            return None;
        }
        self.drawable_span().map(|_| &*self.file as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.file.shows_snippets() {
            return None;
        }
        let span = self.drawable_span()?;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(None, span),
        )))
    }
}

/// Every diagnostic of a run, errors and warnings, in the order found.
#[derive(Debug, Clone, Default, thiserror::Error)]
#[error("{}", self.summary())]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// Only the warnings (what a successful load hands back).
    pub fn warnings(&self) -> Diagnostics {
        Diagnostics {
            items: self
                .items
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .cloned()
                .collect(),
        }
    }

    /// "2 errors and 1 warning", or "no problems".
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        match (self.count(Severity::Error), self.count(Severity::Warning)) {
            (0, 0) => "no problems".to_string(),
            (e, 0) => plural(e, "error"),
            (0, w) => plural(w, "warning"),
            (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
        }
    }

    /// Renders every diagnostic without colour (for files, pipes and tests): each names
    /// `file:line:column` and the field, with the offending line and a caret under the value.
    pub fn report(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.render_to(out, false)
    }

    /// Renders to stderr, in colour when stderr is a terminal and `NO_COLOR` is unset.
    pub fn eprint(&self) {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let _ = self.render_to(&mut std::io::stderr().lock(), color);
    }

    fn render_to(&self, out: &mut impl Write, color: bool) -> std::io::Result<()> {
        let mut theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        theme.characters.error = "error:".into();
        theme.characters.warning = "warning:".into();
        // Never break a field path or a file name inside a word; in colour (a terminal) wrap
        // long lines between words, elsewhere keep each line whole for grep.
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(120)
            .with_break_words(false)
            .with_wrap_lines(color);
        for diagnostic in &self.items {
            let mut text = String::new();
            if handler.render_report(&mut text, diagnostic).is_err() {
                text = format!("{}: {diagnostic}\n", diagnostic.location());
            }
            // Without a span miette draws no location, but the headline names the file.
            writeln!(out, "{}", text.trim_end())?;
            writeln!(out)?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics {
            items: vec![diagnostic],
        }
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Self {
        Diagnostics {
            items: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// `parent.name`, or `name` at the top.
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// `parent[key]`, as Kubernetes writes a map entry (`metadata.labels[app]`).
pub fn key(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// The span of the value at `field` (a Kubernetes field path) in a TOML text, if the text
/// parses and holds that field.
pub fn span_of(text: &str, field: &str) -> Option<Range<usize>> {
    TomlSpans::parse(text)?.value(field)
}

/// A parsed document that maps Kubernetes field paths to byte ranges and back: a TOML text,
/// or a YAML document read into the same tree (`yaml::Document::to_table`).
pub struct TomlSpans<'t> {
    root: DeTable<'t>,
}

/// One step of a field path: `.name` or `[index-or-key]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'p> {
    Name(&'p str),
    Bracket(&'p str),
}

/// What a path resolved to, one step at a time: (key span, value span).
type Trail = Vec<(Range<usize>, Range<usize>)>;

impl<'t> TomlSpans<'t> {
    /// `None` when the text is not valid TOML (its syntax error is reported on its own).
    pub fn parse(text: &'t str) -> Option<Self> {
        DeTable::parse(text).ok().map(|root| TomlSpans {
            root: root.into_inner(),
        })
    }

    /// The index of a tree already parsed (whose spans may point into a YAML text).
    pub fn from_table(root: DeTable<'t>) -> Self {
        TomlSpans { root }
    }

    /// The value at `field` exactly (for a table or array of tables written with a header, the
    /// header).
    pub fn value(&self, field: &str) -> Option<Range<usize>> {
        let segments = parse_path(field);
        let trail = self.trail(&segments);
        (trail.len() == segments.len())
            .then(|| trail.last().map(|(_, v)| v.clone()))
            .flatten()
    }

    /// The key naming `field` (for an array element, the element).
    pub fn key(&self, field: &str) -> Option<Range<usize>> {
        let segments = parse_path(field);
        let trail = self.trail(&segments);
        (trail.len() == segments.len())
            .then(|| trail.last().map(|(k, _)| k.clone()))
            .flatten()
    }

    /// The value at `field`, or else at its nearest ancestor the file does have (a field left
    /// to its default has no text of its own); the top of the file at worst.
    pub fn nearest(&self, field: &str) -> Range<usize> {
        let segments = parse_path(field);
        self.trail(&segments)
            .last()
            .map(|(_, v)| v.clone())
            .unwrap_or(0..0)
    }

    /// The field path of the key or value that `span` is exactly, or else of the innermost
    /// one that contains it (used to name the field of a deserialization error, which toml
    /// reports by span only). Exact first: a table TOML makes implicitly (`spec` in
    /// `[spec.template.metadata]`) has its key as its span, which the deeper header contains.
    pub fn field_at(&self, span: &Range<usize>) -> String {
        let mut best = Best::default();
        find_innermost(&self.root, "", 0, span, &mut best);
        best.exact
            .or(best.containing)
            .map(|(_, f)| f)
            .unwrap_or_default()
    }

    fn trail(&self, segments: &[Segment<'_>]) -> Trail {
        let mut trail = Trail::new();
        let mut current: Option<&DeValue<'t>> = None;
        for segment in segments {
            let name = match segment {
                Segment::Name(n) | Segment::Bracket(n) => *n,
            };
            let step = match current {
                None => lookup(&self.root, name),
                Some(DeValue::Table(table)) => lookup(table, name),
                Some(DeValue::Array(array)) => match segment {
                    Segment::Bracket(i) => i
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| array.get(i))
                        .map(|v| (v.span(), v.span(), v.get_ref())),
                    Segment::Name(_) => None,
                },
                Some(_) => None,
            };
            match step {
                Some((key_span, value_span, value)) => {
                    trail.push((key_span, value_span));
                    current = Some(value);
                }
                None => break,
            }
        }
        trail
    }
}

fn lookup<'a, 't>(
    table: &'a DeTable<'t>,
    name: &str,
) -> Option<(Range<usize>, Range<usize>, &'a DeValue<'t>)> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == name)
        .map(|(k, v)| (k.span(), v.span(), v.get_ref()))
}

/// Whether `outer` holds `inner`; an empty span is held only by an equal one.
fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    if outer.is_empty() || inner.is_empty() {
        return outer == inner;
    }
    outer.start <= inner.start && inner.end <= outer.end
}

/// The deepest field whose key or value is the span exactly, and the deepest that holds it.
#[derive(Default)]
struct Best {
    exact: Option<(usize, String)>,
    containing: Option<(usize, String)>,
}

impl Best {
    fn offer(&mut self, depth: usize, field: &str, spans: &[Range<usize>], span: &Range<usize>) {
        let deeper = |slot: &Option<(usize, String)>| slot.as_ref().is_none_or(|(d, _)| depth > *d);
        if spans.iter().any(|s| s == span) && deeper(&self.exact) {
            self.exact = Some((depth, field.to_string()));
        }
        if spans.iter().any(|s| contains(s, span)) && deeper(&self.containing) {
            self.containing = Some((depth, field.to_string()));
        }
    }
}

fn find_innermost(
    table: &DeTable<'_>,
    path: &str,
    depth: usize,
    span: &Range<usize>,
    best: &mut Best,
) {
    for (k, v) in table.iter() {
        let field = child(path, k.get_ref());
        best.offer(depth + 1, &field, &[k.span(), v.span()], span);
        find_innermost_value(v.get_ref(), &field, depth + 1, span, best);
    }
}

fn find_innermost_value(
    value: &DeValue<'_>,
    path: &str,
    depth: usize,
    span: &Range<usize>,
    best: &mut Best,
) {
    match value {
        DeValue::Table(table) => find_innermost(table, path, depth, span, best),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                let field = index(path, i);
                best.offer(depth + 1, &field, &[item.span()], span);
                find_innermost_value(item.get_ref(), &field, depth + 1, span, best);
            }
        }
        _ => {}
    }
}

/// Splits `a.b[0].c[app.kubernetes.io/name]` into segments. A bracket closes at the first `]`
/// followed by `.`, `[` or the end, so that keys may hold dots and even brackets.
fn parse_path(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => i += 1,
            b'[' => {
                let start = i + 1;
                let mut end = start;
                loop {
                    match path[end..].find(']') {
                        Some(rel) => {
                            let close = end + rel;
                            let next = bytes.get(close + 1);
                            if matches!(next, None | Some(b'.') | Some(b'[')) {
                                segments.push(Segment::Bracket(&path[start..close]));
                                i = close + 1;
                                break;
                            }
                            end = close + 1;
                        }
                        None => {
                            segments.push(Segment::Bracket(&path[start..]));
                            i = bytes.len();
                            break;
                        }
                    }
                }
            }
            _ => {
                let end = path[i..]
                    .find(['.', '['])
                    .map_or(bytes.len(), |rel| i + rel);
                segments.push(Segment::Name(&path[i..end]));
                i = end;
            }
        }
    }
    segments
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"apiVersion = "apps/v1"
[metadata]
name = "web"
labels = { app = "web", "app.kubernetes.io/name" = "web" }

[spec.template.spec]
hostNetwork = true

[[spec.template.spec.containers]]
name = "a"
ports = [ { containerPort = 80 }, { containerPort = 70000, name = "http" } ]

[[spec.template.spec.containers]]
name = "b"
[[spec.template.spec.containers.volumeMounts]]
name = "logs"
mountPath = "/var/log"
"#;

    fn at(field: &str) -> Option<&'static str> {
        span_of(DOC, field).map(|r| &DOC[r])
    }

    #[test]
    fn span_of_walks_field_paths() {
        let cases: &[(&str, Option<&str>)] = &[
            ("apiVersion", Some("\"apps/v1\"")),
            ("metadata.name", Some("\"web\"")),
            ("metadata.labels[app]", Some("\"web\"")),
            ("metadata.labels[app.kubernetes.io/name]", Some("\"web\"")),
            ("spec.template.spec.hostNetwork", Some("true")),
            ("spec.template.spec.containers[0].name", Some("\"a\"")),
            (
                "spec.template.spec.containers[0].ports[1].containerPort",
                Some("70000"),
            ),
            (
                "spec.template.spec.containers[0].ports[1]",
                Some("{ containerPort = 70000, name = \"http\" }"),
            ),
            (
                "spec.template.spec.containers[1]",
                Some("[[spec.template.spec.containers]]"),
            ),
            (
                "spec.template.spec.containers[1].volumeMounts[0].mountPath",
                Some("\"/var/log\""),
            ),
            (
                "spec.template.spec.containers[1].volumeMounts[0]",
                Some("[[spec.template.spec.containers.volumeMounts]]"),
            ),
            ("spec.template.spec.containers[2].name", None),
            ("spec.template.spec.containers[0].ports[1].hostPort", None),
            ("spec.template.spec.hostNetwork.x", None),
            ("metadata.labels[missing]", None),
        ];
        for (field, want) in cases {
            assert_eq!(at(field), *want, "{field}");
        }
    }

    #[test]
    fn key_and_nearest() {
        let spans = TomlSpans::parse(DOC).unwrap();
        let key = spans
            .key("metadata.labels[app.kubernetes.io/name]")
            .unwrap();
        assert_eq!(&DOC[key], "\"app.kubernetes.io/name\"");
        let near = spans.nearest("spec.template.spec.containers[0].ports[1].hostPort");
        assert_eq!(&DOC[near], "{ containerPort = 70000, name = \"http\" }");
        assert_eq!(spans.nearest("nothing.here"), 0..0);
    }

    #[test]
    fn field_at_names_the_innermost_field() {
        let spans = TomlSpans::parse(DOC).unwrap();
        let cases = [
            (
                "70000",
                "spec.template.spec.containers[0].ports[1].containerPort",
            ),
            (
                "\"/var/log\"",
                "spec.template.spec.containers[1].volumeMounts[0].mountPath",
            ),
            ("hostNetwork", "spec.template.spec.hostNetwork"),
            ("\"http\"", "spec.template.spec.containers[0].ports[1].name"),
        ];
        for (needle, want) in cases {
            let start = DOC.find(needle).unwrap();
            assert_eq!(
                spans.field_at(&(start..start + needle.len())),
                want,
                "{needle}"
            );
        }
        // A missing-field error points at the header of the table that lacks it.
        let header = "[[spec.template.spec.containers]]\nname = \"b\"";
        let start = DOC.find(header).unwrap();
        let span = start..start + "[[spec.template.spec.containers]]".len();
        assert_eq!(spans.field_at(&span), "spec.template.spec.containers[1]");
        assert_eq!(spans.field_at(&(0..0)), "");
        // An implicit table's span is its key in a deeper header, which that header holds.
        let text = "[spec.template.metadata]\nlabels = {}\n";
        let spans = TomlSpans::parse(text).unwrap();
        assert_eq!(spans.field_at(&(1..5)), "spec");
    }

    #[test]
    fn parse_path_handles_keys_with_dots_and_brackets() {
        assert_eq!(
            parse_path("a.b[0].c[x.y/z].d"),
            vec![
                Segment::Name("a"),
                Segment::Name("b"),
                Segment::Bracket("0"),
                Segment::Name("c"),
                Segment::Bracket("x.y/z"),
                Segment::Name("d"),
            ]
        );
        assert_eq!(
            parse_path("labels[a]b]"),
            vec![Segment::Name("labels"), Segment::Bracket("a]b")]
        );
    }

    #[test]
    fn line_col_counts_characters() {
        let file = SourceFile::new("x.toml", "a = 1\nb = \"é\"\nc = 3\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        let c = file.text.find('c').unwrap();
        assert_eq!(file.line_col(c), (3, 1));
        let quote = file.text.rfind('"').unwrap();
        assert_eq!(file.line_col(quote), (2, 7));
    }

    #[test]
    fn report_names_file_line_column_field_and_draws_a_caret() {
        let file = Arc::new(SourceFile::new("examples/bad.toml", DOC));
        let span = span_of(
            DOC,
            "spec.template.spec.containers[0].ports[1].containerPort",
        );
        let diags: Diagnostics = [Diagnostic::error(
            &file,
            "spec.template.spec.containers[0].ports[1].containerPort",
            "Invalid value: 70000: must be between 1 and 65535, inclusive",
        )
        .with_span(span)
        .with_help(Some("pick a port".into()))]
        .into_iter()
        .collect();
        let mut out = Vec::new();
        diags.report(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("error: spec.template.spec.containers[0].ports[1].containerPort: Invalid value: 70000"), "{out}");
        assert!(out.contains("[examples/bad.toml:11:53]"), "{out}");
        assert!(out.contains("──┬──") || out.contains("─────"), "{out}");
        assert!(out.contains("help: pick a port"), "{out}");
        assert!(!out.contains('\u{1b}'), "no colour codes: {out:?}");
        assert_eq!(diags.summary(), "1 error");
        assert!(diags.has_errors());
    }

    #[test]
    fn report_without_span_still_names_the_file() {
        let file = Arc::new(SourceFile::new("missing.toml", ""));
        let diags = Diagnostics::from(Diagnostic::error(&file, "", "cannot read: No such file"));
        let mut out = Vec::new();
        diags.report(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("missing.toml: cannot read: No such file"),
            "{out}"
        );
    }

    #[test]
    fn summary_counts() {
        let file = Arc::new(SourceFile::new("a.toml", "a = 1"));
        let mut d = Diagnostics::new();
        assert_eq!(d.summary(), "no problems");
        d.push(Diagnostic::warning(&file, "a", "w"));
        assert_eq!(d.summary(), "1 warning");
        assert!(!d.has_errors());
        d.push(Diagnostic::error(&file, "a", "e"));
        d.push(Diagnostic::error(&file, "a", "e"));
        assert_eq!(d.summary(), "2 errors and 1 warning");
        assert_eq!(d.warnings().len(), 1);
    }
}

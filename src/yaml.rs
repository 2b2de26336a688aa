//! Kubernetes YAML manifests, read into the same spanned tree that TOML parses into, so that
//! one loader, one deserializer and one span index serve both formats (see `load.rs`), and
//! `convert` writes TOML that validates exactly as the YAML does.
//!
//! saphyr-parser gives the events and their spans (YAML 1.2 syntax). Plain scalars are then
//! resolved as Kubernetes resolves them (its YAML library follows YAML 1.1): `yes`/`no`/`on`/
//! `off` are booleans and `0644` is octal, so a manifest means here what it means to kubectl.
//! `null` means "not set", as in Kubernetes. The parser drops comments; they are read from the
//! text beside it, outside every scalar, and attached to the entry they precede or end.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::diagnostic::{child, index};

/// Aliases may expand to at most this many nodes (a "billion laughs" file stops here).
const ALIAS_BUDGET: usize = 100_000;

/// A parsed YAML file: its documents (empty ones left out) and the comments found in it.
#[derive(Debug, Clone)]
pub struct YamlFile {
    pub documents: Vec<Document>,
    /// Comments by entry id (see [`Entry::id`], [`Item::id`]).
    pub comments: Vec<Comments>,
}

/// One `---` document.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
    /// Comments after the last entry of the file's last document.
    pub footer: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte range of the node: a scalar as written; a block collection's first line; a flow
    /// collection with its brackets.
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Item>),
    Map(Vec<Entry>),
}

/// `key: value` in a mapping, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
    pub id: usize,
}

/// `- value` in a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub node: Node,
    pub id: usize,
}

/// The comments of one entry: whole lines just above it, and one at the end of its line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comments {
    pub leading: Vec<String>,
    pub trailing: Option<String>,
}

/// Something wrong in a YAML file, at a byte range, about a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub span: Range<usize>,
    pub field: String,
    pub message: String,
}

impl YamlError {
    /// A hint for the syntax errors that are nearly always indentation.
    pub fn help(&self) -> Option<String> {
        let m = &self.message;
        if !m.starts_with("YAML syntax error") {
            None
        } else if m.contains("tab") || m.contains("cannot start any token") {
            Some("YAML indents with spaces; a tab cannot indent".into())
        } else if m.contains("mapping values are not allowed")
            || m.contains("did not find expected")
            || m.contains("invalid indentation")
        {
            Some(
                "YAML nests by indentation: is this line indented as far as the keys beside it?"
                    .into(),
            )
        } else {
            None
        }
    }
}

/// Whether a path names a YAML file (by its extension).
pub fn is_yaml(path: &std::path::Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Parses a YAML text; the first syntax error stops it (YAML cannot resynchronise).
pub fn parse(text: &str) -> Result<YamlFile, YamlError> {
    let mut builder = Builder::new(text);
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => builder.event(event, span)?,
            Err(err) => {
                let at = builder.byte(err.marker().index());
                return Err(YamlError {
                    span: at..next_char(text, at),
                    field: builder.path(),
                    message: format!("YAML syntax error: {}", err.info()),
                });
            }
        }
    }
    Ok(builder.finish())
}

/// An entry or item as placed in the text, for attaching comments.
struct Anchor {
    start: usize,
    depth: usize,
}

enum Frame {
    Map {
        entries: Vec<Entry>,
        /// The key read, waiting for its value: (key, span, was a plain `<<`).
        key: Option<(String, Range<usize>, bool)>,
        /// Keys that came from a `<<` merge: the mapping's own entry replaces them.
        merged: Vec<String>,
    },
    Seq(Vec<Item>),
}

struct Open {
    frame: Frame,
    start: usize,
    flow: bool,
    anchor: usize,
}

struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each character index (saphyr counts characters), plus the end.
    bytes: Vec<usize>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    budget: usize,
    root: Option<Node>,
    documents: Vec<Document>,
    entries: Vec<Anchor>,
    /// Byte ranges of scalars as written: a `#` inside one starts no comment.
    scalars: Vec<Range<usize>>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
        let mut bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        bytes.push(text.len());
        Builder {
            text,
            bytes,
            stack: Vec::new(),
            anchors: HashMap::new(),
            budget: ALIAS_BUDGET,
            root: None,
            documents: Vec::new(),
            entries: Vec::new(),
            scalars: Vec::new(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.bytes
            .get(char_index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// The field path being read: where a syntax error is.
    fn path(&self) -> String {
        let mut path = String::new();
        for open in &self.stack {
            match &open.frame {
                Frame::Map {
                    key: Some((key, _, _)),
                    ..
                } => path = child(&path, key),
                Frame::Map { key: None, .. } => {}
                Frame::Seq(items) => path = index(&path, items.len()),
            }
        }
        path
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> YamlError {
        YamlError {
            span,
            field: self.path(),
            message: message.into(),
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index());
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let span = self.scalar_span(start, end, style);
                self.scalars.push(span.clone());
                let plain_merge = style == ScalarStyle::Plain && value == "<<" && tag.is_none();
                let value = resolve(&value, style, tag.as_deref())
                    .map_err(|message| self.error(span.clone(), message))?;
                self.node(Node { span, value }, anchor, plain_merge)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let flow = matches!(self.text[start..].chars().next(), Some('[' | '{'));
                let frame = match event {
                    Event::SequenceStart(..) => Frame::Seq(Vec::new()),
                    _ => Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        merged: Vec::new(),
                    },
                };
                self.stack.push(Open {
                    frame,
                    start,
                    flow,
                    anchor,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                let span = if open.flow {
                    open.start..next_char(self.text, start)
                } else {
                    self.first_line(open.start)
                };
                let value = match open.frame {
                    Frame::Seq(items) => Value::Seq(items),
                    Frame::Map { entries, .. } => Value::Map(entries),
                };
                self.node(Node { span, value }, open.anchor, false)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(self.error(start..end, "unknown YAML alias"));
                };
                let size = count(&node);
                if size > self.budget {
                    return Err(self.error(
                        start..end,
                        "YAML aliases expand to too many nodes (more than 100000)",
                    ));
                }
                self.budget -= size;
                // The copy keeps the anchor's spans: its problems are shown where it is written.
                self.node(node, 0, false)
            }
            Event::DocumentEnd => {
                if let Some(root) = self.root.take()
                    && root.value != Value::Null
                {
                    self.documents.push(Document {
                        root,
                        footer: Vec::new(),
                    });
                }
                self.anchors.clear();
                Ok(())
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::Nothing => {
                Ok(())
            }
        }
    }

    /// saphyr's span of a quoted scalar can run on over a comment after it, and a block
    /// scalar's over the indentation after it: cut both to the text.
    fn scalar_span(&self, start: usize, end: usize, style: ScalarStyle) -> Range<usize> {
        let text = self.text;
        let end = end.max(start).min(text.len());
        match style {
            ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted => {
                let quote = if style == ScalarStyle::DoubleQuoted {
                    '"'
                } else {
                    '\''
                };
                let Some(open) = text[start..end].find(quote).map(|i| start + i) else {
                    return start..end;
                };
                let mut chars = text[open + 1..].char_indices().peekable();
                while let Some((i, c)) = chars.next() {
                    if quote == '"' && c == '\\' {
                        chars.next();
                    } else if c == quote {
                        if quote == '\'' && chars.peek().map(|(_, c)| *c) == Some('\'') {
                            chars.next();
                        } else {
                            return start..open + 1 + i + 1;
                        }
                    }
                }
                start..end
            }
            ScalarStyle::Literal | ScalarStyle::Folded => {
                start..start + text[start..end].trim_end().len()
            }
            _ => start..end,
        }
    }

    /// From `start` to the end of its line, without a comment: so a block collection's span
    /// holds its first key's or item's span and is never equal to it.
    fn first_line(&self, start: usize) -> Range<usize> {
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let in_scalar = |at: usize| {
            self.scalars
                .iter()
                .rev()
                .take_while(|s| s.end > start)
                .any(|s| s.start <= at && at < s.end)
        };
        let line = &self.text[start..line_end];
        let comment = line
            .char_indices()
            .find(|&(i, c)| {
                c == '#' && i > 0 && line[..i].ends_with([' ', '\t']) && !in_scalar(start + i)
            })
            .map_or(line.len(), |(i, _)| i);
        let end = start + line[..comment].trim_end().len();
        start..end.max(next_char(self.text, start))
    }

    fn register(&mut self, start: usize) -> usize {
        self.entries.push(Anchor {
            start,
            depth: self.stack.len(),
        });
        self.entries.len() - 1
    }

    fn node(&mut self, node: Node, anchor: usize, plain_merge: bool) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(top) = self.stack.last() else {
            self.root = Some(node);
            return Ok(());
        };
        match &top.frame {
            Frame::Seq(_) => {
                let id = self.register(node.span.start);
                if let Some(Open {
                    frame: Frame::Seq(items),
                    ..
                }) = self.stack.last_mut()
                {
                    items.push(Item { node, id });
                }
                Ok(())
            }
            Frame::Map { key: None, .. } => {
                let key = match &node.value {
                    Value::Str(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    Value::Null => {
                        return Err(self.error(node.span, "a mapping key must not be null"));
                    }
                    Value::Seq(_) | Value::Map(_) => {
                        return Err(self.error(node.span, "a mapping key must be a plain value"));
                    }
                };
                if let Some(Open {
                    frame: Frame::Map { key: pending, .. },
                    ..
                }) = self.stack.last_mut()
                {
                    *pending = Some((key, node.span, plain_merge));
                }
                Ok(())
            }
            Frame::Map { key: Some(_), .. } => {
                let Some(Open {
                    frame: Frame::Map { key: pending, .. },
                    ..
                }) = self.stack.last_mut()
                else {
                    return Ok(());
                };
                let Some((key, key_span, merge)) = pending.take() else {
                    return Ok(());
                };
                if merge {
                    return self.merge(node, key_span);
                }
                let duplicate = match self.stack.last_mut().map(|o| &mut o.frame) {
                    Some(Frame::Map {
                        entries, merged, ..
                    }) => {
                        if let Some(m) = merged.iter().position(|k| *k == key) {
                            merged.remove(m);
                            entries.retain(|e| e.key != key);
                            false
                        } else {
                            entries.iter().any(|e| e.key == key)
                        }
                    }
                    _ => false,
                };
                if duplicate {
                    return Err(YamlError {
                        span: key_span,
                        field: child(&self.path(), &key),
                        message: format!("duplicate key `{key}` in a mapping"),
                    });
                }
                let id = self.register(key_span.start);
                if let Some(Open {
                    frame: Frame::Map { entries, .. },
                    ..
                }) = self.stack.last_mut()
                {
                    entries.push(Entry {
                        key,
                        key_span,
                        value: node,
                        id,
                    });
                }
                Ok(())
            }
        }
    }

    /// `<<: *defaults` (YAML 1.1 merge keys, which Kubernetes honours): the merged mapping's
    /// entries are added unless the mapping sets them itself.
    fn merge(&mut self, node: Node, key_span: Range<usize>) -> Result<(), YamlError> {
        let sources: Vec<Vec<Entry>> = match node.value {
            Value::Map(entries) => vec![entries],
            Value::Seq(items) => {
                let mut all = Vec::new();
                for item in items {
                    match item.node.value {
                        Value::Map(entries) => all.push(entries),
                        _ => {
                            return Err(
                                self.error(key_span, "`<<` merges only mappings into a mapping")
                            );
                        }
                    }
                }
                all
            }
            _ => return Err(self.error(key_span, "`<<` merges only mappings into a mapping")),
        };
        if let Some(Open {
            frame: Frame::Map {
                entries, merged, ..
            },
            ..
        }) = self.stack.last_mut()
        {
            for source in sources {
                for entry in source {
                    if !entries.iter().any(|e| e.key == entry.key) {
                        merged.push(entry.key.clone());
                        entries.push(entry);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> YamlFile {
        let mut documents = self.documents;
        let comments = find_comments(self.text, &self.scalars);
        let mut attached = vec![Comments::default(); self.entries.len()];
        // Entries by start; at one start the shallowest first (`- name: x` is the item, then
        // its key), so a comment above attaches to the outermost and one after to the innermost.
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&i| (self.entries[i].start, self.entries[i].depth));
        let mut footer = Vec::new();
        for comment in comments {
            let line_start = line_start(self.text, comment.start);
            if !comment.whole_line {
                // The innermost entry starting on the comment's line.
                let on_line = order.iter().rev().find(|&&i| {
                    let s = self.entries[i].start;
                    s >= line_start && s < comment.start
                });
                if let Some(&i) = on_line
                    && attached[i].trailing.is_none()
                {
                    attached[i].trailing = Some(comment.text);
                    continue;
                }
            }
            let next = order
                .iter()
                .find(|&&i| self.entries[i].start > comment.start);
            match next {
                Some(&i) => attached[i].leading.push(comment.text),
                None => footer.push(comment.text),
            }
        }
        if let Some(last) = documents.last_mut() {
            last.footer = footer;
        }
        YamlFile {
            documents,
            comments: attached,
        }
    }
}

fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(|i| count(&i.node)).sum(),
        Value::Map(entries) => entries.iter().map(|e| count(&e.value)).sum(),
        _ => 0,
    }
}

fn next_char(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text[at..].chars().next().map_or(at, |c| at + c.len_utf8())
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

struct Comment {
    start: usize,
    /// Without the `#` and the spaces after it.
    text: String,
    whole_line: bool,
}

/// Every `#` comment outside the scalars: a `#` at the start of a line or after a blank.
fn find_comments(text: &str, scalars: &[Range<usize>]) -> Vec<Comment> {
    let mut sorted: Vec<&Range<usize>> = scalars.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let inside = |at: usize| {
        let i = sorted.partition_point(|r| r.start <= at);
        i > 0 && at < sorted[i - 1].end
    };
    let mut comments = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bytes = line.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'#' && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t')) && !inside(offset + i)
            {
                comments.push(Comment {
                    start: offset + i,
                    text: line[i + 1..].trim_end().to_string(),
                    whole_line: line[..i].trim().is_empty(),
                });
                break;
            }
        }
        offset += line.len();
    }
    comments
}

/// YAML 1.1 booleans, as Kubernetes reads them.
const TRUE: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
];
const FALSE: &[&str] = &[
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
];

fn resolve(value: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag.filter(|t| t.is_yaml_core_schema()) {
        let wrong = |what: &str| format!("`{value}` is not {what} (tagged !!{})", tag.suffix);
        return match tag.suffix.as_str() {
            "str" => Ok(Value::Str(value.to_string())),
            "int" => match resolve_plain(value) {
                Value::Int(i) => Ok(Value::Int(i)),
                _ => Err(wrong("an integer")),
            },
            "float" => match resolve_plain(value) {
                Value::Int(i) => Ok(Value::Float(i as f64)),
                Value::Float(f) => Ok(Value::Float(f)),
                _ => Err(wrong("a number")),
            },
            "bool" => match resolve_plain(value) {
                Value::Bool(b) => Ok(Value::Bool(b)),
                _ => Err(wrong("a boolean")),
            },
            "null" => Ok(Value::Null),
            _ => Ok(Value::Str(value.to_string())),
        };
    }
    Ok(match style {
        ScalarStyle::Plain => resolve_plain(value),
        _ => Value::Str(value.to_string()),
    })
}

/// A plain scalar's value, as go-yaml v2 (which Kubernetes uses) resolves it.
fn resolve_plain(value: &str) -> Value {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if TRUE.contains(&value) {
        return Value::Bool(true);
    }
    if FALSE.contains(&value) {
        return Value::Bool(false);
    }
    if !value.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.')) {
        return Value::Str(value.to_string());
    }
    let plain = value.replace('_', "");
    if let Some(i) = parse_int(&plain) {
        return Value::Int(i);
    }
    if is_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(value.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`, `0o`, `0b`, a leading `0` (octal) or
/// decimal digits.
fn parse_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// A number as TOML writes it.
pub fn toml_number(value: &Value) -> Option<String> {
    use toml_writer::ToTomlValue;
    match value {
        Value::Int(i) => Some(i.to_toml_value()),
        Value::Float(f) => Some(f.to_toml_value()),
        _ => None,
    }
}

/// The TOML texts of a document's numbers, which toml's tree can only borrow from a text
/// (its integer and float types have no public constructor).
pub struct Numbers {
    text: String,
    at: HashMap<String, Range<usize>>,
}

impl Numbers {
    pub fn of(node: &Node) -> Numbers {
        let mut found = BTreeSet::new();
        collect_numbers(node, &mut found);
        let mut text = String::new();
        let mut at = HashMap::new();
        for literal in found {
            let start = text.len();
            text.push_str(&literal);
            at.insert(literal, start..text.len());
            text.push('\n');
        }
        Numbers { text, at }
    }

    fn value(&self, literal: &str) -> Option<DeValue<'_>> {
        let range = self.at.get(literal)?.clone();
        DeValue::parse(&self.text[range])
            .ok()
            .map(Spanned::into_inner)
    }
}

fn collect_numbers(node: &Node, found: &mut BTreeSet<String>) {
    match &node.value {
        Value::Seq(items) => items.iter().for_each(|i| collect_numbers(&i.node, found)),
        Value::Map(entries) => entries
            .iter()
            .for_each(|e| collect_numbers(&e.value, found)),
        value => {
            if let Some(literal) = toml_number(value) {
                found.insert(literal);
            }
        }
    }
}

impl Document {
    /// The document as toml's tree, with spans into the YAML text. `null` entries are left
    /// out (unset, as Kubernetes reads them).
    pub fn to_table<'n>(&self, numbers: &'n Numbers) -> Result<Spanned<DeTable<'n>>, YamlError> {
        match to_de(&self.root, numbers, "")? {
            Some(value) => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Table(table) => Ok(Spanned::new(span, table)),
                    _ => Err(not_an_object(&self.root)),
                }
            }
            None => Err(not_an_object(&self.root)),
        }
    }

    /// The `kind` of the object, when it is a string.
    pub fn kind(&self) -> Option<(&str, Range<usize>)> {
        self.string_at("kind")
    }

    /// A top-level or `metadata.` string field with its span, e.g. `metadata.name`.
    pub fn string_at(&self, field: &str) -> Option<(&str, Range<usize>)> {
        let mut node = &self.root;
        for part in field.split('.') {
            let Value::Map(entries) = &node.value else {
                return None;
            };
            node = &entries.iter().find(|e| e.key == part)?.value;
        }
        match &node.value {
            Value::Str(s) => Some((s.as_str(), node.span.clone())),
            _ => None,
        }
    }
}

fn not_an_object(root: &Node) -> YamlError {
    YamlError {
        span: root.span.clone(),
        field: String::new(),
        message: "a document must be a mapping (a Kubernetes object with apiVersion and kind)"
            .to_string(),
    }
}

fn to_de<'n>(
    node: &Node,
    numbers: &'n Numbers,
    path: &str,
) -> Result<Option<Spanned<DeValue<'n>>>, YamlError> {
    let value = match &node.value {
        Value::Null => return Ok(None),
        Value::Bool(b) => DeValue::Boolean(*b),
        Value::Str(s) => DeValue::String(Cow::Owned(s.clone())),
        Value::Int(_) | Value::Float(_) => {
            let literal = toml_number(&node.value).unwrap_or_default();
            numbers.value(&literal).ok_or_else(|| YamlError {
                span: node.span.clone(),
                field: path.to_string(),
                message: format!("the number {literal} has no TOML form"),
            })?
        }
        Value::Seq(items) => {
            let mut array = DeArray::new();
            for (i, item) in items.iter().enumerate() {
                let field = index(path, i);
                match to_de(&item.node, numbers, &field)? {
                    Some(value) => array.push(value),
                    None => {
                        return Err(YamlError {
                            span: item.node.span.clone(),
                            field,
                            message: "null in a list: a list item must have a value".into(),
                        });
                    }
                }
            }
            DeValue::Array(array)
        }
        Value::Map(entries) => {
            let mut table = DeTable::new();
            for entry in entries {
                if let Some(value) = to_de(&entry.value, numbers, &child(path, &entry.key))? {
                    table.insert(
                        Spanned::new(entry.key_span.clone(), Cow::Owned(entry.key.clone())),
                        value,
                    );
                }
            }
            DeValue::Table(table)
        }
    };
    Ok(Some(Spanned::new(node.span.clone(), value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        let file = parse(text).unwrap();
        assert_eq!(file.documents.len(), 1);
        file.documents.into_iter().next().unwrap()
    }

    fn at<'a>(text: &'a str, node: &Node) -> &'a str {
        &text[node.span.clone()]
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.value {
            Value::Map(entries) => &entries.iter().find(|e| e.key == key).unwrap().value,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn plain_scalars_resolve_as_kubernetes_reads_them() {
        let cases: &[(&str, Value)] = &[
            ("80", Value::Int(80)),
            ("-3", Value::Int(-3)),
            ("0644", Value::Int(0o644)),
            ("0o17", Value::Int(15)),
            ("0x1F", Value::Int(31)),
            ("1_000", Value::Int(1000)),
            ("09", Value::Float(9.0)),
            ("0.5", Value::Float(0.5)),
            (".5", Value::Float(0.5)),
            ("1e3", Value::Float(1000.0)),
            ("-.inf", Value::Float(f64::NEG_INFINITY)),
            ("yes", Value::Bool(true)),
            ("Off", Value::Bool(false)),
            ("true", Value::Bool(true)),
            ("~", Value::Null),
            ("", Value::Null),
            ("NULL", Value::Null),
            ("100m", Value::Str("100m".into())),
            ("1.6.1", Value::Str("1.6.1".into())),
            ("10%", Value::Str("10%".into())),
            ("-", Value::Str("-".into())),
            ("nginx:latest", Value::Str("nginx:latest".into())),
            ("99999999999999999999", Value::Float(1e20)),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text}");
        }
    }

    #[test]
    fn quoted_and_tagged_scalars() {
        let text =
            "a: \"80\"\nb: '0644'\nc: !!str yes\nd: !!int \"12\"\ne: |\n  x\n  y\nf: !!float 1\n";
        let d = doc(text);
        assert_eq!(get(&d.root, "a").value, Value::Str("80".into()));
        assert_eq!(get(&d.root, "b").value, Value::Str("0644".into()));
        assert_eq!(get(&d.root, "c").value, Value::Str("yes".into()));
        assert_eq!(get(&d.root, "d").value, Value::Int(12));
        assert_eq!(get(&d.root, "e").value, Value::Str("x\ny\n".into()));
        assert_eq!(get(&d.root, "f").value, Value::Float(1.0));
        let err = parse("a: !!int abc\n").unwrap_err();
        assert_eq!(err.field, "a");
        assert!(err.message.contains("not an integer"), "{err:?}");
    }

    #[test]
    fn spans_point_at_what_is_written() {
        let text = "a: \"web\" # c\nb: {x: 1, z: [1, 2]} # d\nc:\n  - name: m\n    image: i\nd: 'it''s' # e\ne: |\n  body # not a comment\nf: plain\n";
        let d = doc(text);
        assert_eq!(at(text, get(&d.root, "a")), "\"web\"");
        assert_eq!(at(text, get(&d.root, "b")), "{x: 1, z: [1, 2]}");
        assert_eq!(at(text, get(get(&d.root, "b"), "z")), "[1, 2]");
        assert_eq!(at(text, get(&d.root, "c")), "- name: m");
        let nested = "spec: # c\n  template:\n    x: 1\n";
        let n = doc(nested);
        assert_eq!(at(nested, get(&n.root, "spec")), "template:");
        assert_eq!(at(text, get(&d.root, "d")), "'it''s'");
        assert_eq!(at(text, get(&d.root, "e")), "body # not a comment");
        assert_eq!(at(text, &d.root), "a: \"web\"");
        assert_eq!(at(text, get(&d.root, "b")), "{x: 1, z: [1, 2]}");
        let Value::Map(entries) = &d.root.value else {
            unreachable!()
        };
        assert_eq!(&text[entries[1].key_span.clone()], "b");
    }

    #[test]
    fn documents_nulls_anchors_and_merges() {
        let text = "---\n# only a comment\n---\nkind: A\nx: ~\nbase: &b {p: 1, q: 2}\nm:\n  <<: *b\n  q: 3\n---\n...\n---\nkind: B\n";
        let file = parse(text).unwrap();
        assert_eq!(file.documents.len(), 2);
        let a = &file.documents[0];
        assert_eq!(a.kind().map(|k| k.0), Some("A"));
        assert_eq!(get(&a.root, "x").value, Value::Null);
        let m = get(&a.root, "m");
        assert_eq!(get(m, "p").value, Value::Int(1));
        assert_eq!(get(m, "q").value, Value::Int(3));
        assert_eq!(file.documents[1].kind().map(|k| k.0), Some("B"));
        // A null is left out of the tree; a null list item is refused.
        let numbers = Numbers::of(&a.root);
        let table = a.to_table(&numbers).unwrap().into_inner();
        assert!(table.get("x").is_none());
        assert!(table.get("kind").is_some());
        let bad = doc("args: [a, ~]\n");
        let err = bad.to_table(&Numbers::of(&bad.root)).unwrap_err();
        assert_eq!(err.field, "args[1]");
    }

    #[test]
    fn errors_name_the_field_being_read() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "spec:\n  containers:\n  - name: c\n     image: x\n",
                "spec.containers[0]",
                "YAML syntax error: mapping values are not allowed",
            ),
            ("a: 1\na: 2\n", "a", "duplicate key `a`"),
            ("spec:\n  x: [1, 2\n", "spec.x[2]", "YAML syntax error"),
            ("a: *nope\n", "a", "YAML syntax error"),
        ];
        let indented = parse(cases[0].0).unwrap_err();
        assert!(indented.help().unwrap().contains("indentation"));
        assert_eq!(parse(cases[1].0).unwrap_err().help(), None);
        for (text, field, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.field, *field, "{text:?}: {err:?}");
            assert!(err.message.contains(message), "{text:?}: {err:?}");
            assert!(err.span.start <= text.len());
        }
    }

    #[test]
    fn comments_attach_to_the_entry_they_precede_or_end() {
        let text = "# head\na: 1 # after a\n# above b\nb:\n  # above item\n  - x: 1 # after x\n    y: \"#no\" # after y\nc: |\n  # in a block\n# tail\n";
        let file = parse(text).unwrap();
        let root = &file.documents[0].root;
        let Value::Map(entries) = &root.value else {
            unreachable!()
        };
        let of = |id: usize| &file.comments[id];
        assert_eq!(of(entries[0].id).leading, vec![" head"]);
        assert_eq!(of(entries[0].id).trailing.as_deref(), Some(" after a"));
        assert_eq!(of(entries[1].id).leading, vec![" above b"]);
        let Value::Seq(items) = &entries[1].value.value else {
            unreachable!()
        };
        assert_eq!(of(items[0].id).leading, vec![" above item"]);
        let Value::Map(inner) = &items[0].node.value else {
            unreachable!()
        };
        assert_eq!(of(inner[0].id).trailing.as_deref(), Some(" after x"));
        assert_eq!(of(inner[1].id).trailing.as_deref(), Some(" after y"));
        assert_eq!(file.documents[0].footer, vec![" tail"]);
        assert_eq!(get(root, "c").value, Value::Str("# in a block\n".into()));
    }
}

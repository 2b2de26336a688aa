//! `dsctl convert`'s core: one YAML document written as the TOML that `validate` reads the same
//! way (same values, so the same findings), laid out as a person would write it.
//!
//! Layout: a table's plain values first (TOML wants them before its sub-tables), then its
//! sub-tables and arrays of tables in the YAML's order. Small flat mappings (labels, limits,
//! `hostPath`) become inline tables; lists of mappings become `[[arrays.of.tables]]`.
//!
//! Comments: each comment stays with its entry: above it, or at the end of its line. Where
//! TOML has no place for one it moves up to the nearest line that can hold it: a comment at
//! the end of a `key:` line that opens a mapping goes above the table's header; comments
//! inside a mapping that is written inline (an item of a list of plain values) go above that
//! item; a comment on a `null` entry (left out, as Kubernetes reads it) stays where the entry was.

use crate::yaml::{Comments, Document, Entry, Item, Node, Value, toml_number};

/// The longest line an inline table or one-line array is allowed to make.
const INLINE_WIDTH: usize = 100;

/// The TOML text of one YAML document. `origin` names the YAML file in the first line.
pub fn to_toml(document: &Document, comments: &[Comments], origin: &str) -> String {
    let mut out = Writer {
        text: String::new(),
        comments,
    };
    out.comment_lines(&[format!(" Converted from {origin} by dsctl convert.")], "");
    if let Value::Map(entries) = &document.root.value {
        out.table(&[], entries, Header::None, Vec::new());
    }
    if !document.footer.is_empty() {
        out.blank();
        out.comment_lines(&document.footer, "");
    }
    let mut text = out.text.trim_end().to_string();
    text.push('\n');
    text
}

/// Checks that `converted` reads back as exactly the document's values (what makes `validate`
/// of the TOML agree with `validate` of the YAML); an `Err` names the first difference.
pub fn verify(document: &Document, converted: &str) -> Result<(), String> {
    use serde::Deserialize;
    let numbers = crate::yaml::Numbers::of(&document.root);
    let table = document.to_table(&numbers).map_err(|e| e.message)?;
    let from_yaml =
        toml::Value::deserialize(toml::de::Deserializer::from(table)).map_err(|e| e.to_string())?;
    let from_toml: toml::Value = toml::from_str(converted).map_err(|e| e.to_string())?;
    if from_yaml == from_toml {
        Ok(())
    } else {
        Err("the TOML written does not hold the YAML's values".into())
    }
}

/// The file a converted object is written to: `NAME.toml` for a DaemonSet (as in
/// `examples/`); other kinds, when dsctl reads them, `KIND-NAME.toml`.
pub fn file_name(kind: crate::load::Kind, name: &str) -> Result<String, String> {
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !safe {
        return Err(format!(
            "metadata.name {name:?} cannot name a file (letters, digits, '-', '.' and '_' only)"
        ));
    }
    Ok(match kind {
        crate::load::Kind::DaemonSet => format!("{name}.toml"),
        crate::load::Kind::ConfigMap => format!("configmap-{name}.toml"),
        crate::load::Kind::Secret => format!("secret-{name}.toml"),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Header {
    /// The document's top: no header.
    None,
    /// `[a.b]`, written only if the table has plain values (else TOML makes it implicitly).
    Table,
    /// `[[a.b]]`, always written: it starts a new element.
    ArrayItem,
}

struct Writer<'c> {
    text: String,
    comments: &'c [Comments],
}

/// How an entry's value is written.
enum Shape {
    /// Left out (`null`).
    Absent,
    /// `key = value` on the table's own lines.
    Plain,
    /// A `[sub.table]` of its own.
    Table,
    /// `[[array.of.tables]]`, one per item.
    Tables,
}

fn shape(node: &Node, comments: &[Comments]) -> Shape {
    match &node.value {
        Value::Null => Shape::Absent,
        Value::Map(entries) if !entries.is_empty() && !inlinable(entries, comments) => Shape::Table,
        Value::Seq(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i.node.value, Value::Map(_))) =>
        {
            Shape::Tables
        }
        _ => Shape::Plain,
    }
}

/// A flat mapping of plain values with no comments, short enough for one line.
fn inlinable(entries: &[Entry], comments: &[Comments]) -> bool {
    let flat = entries.iter().all(|e| {
        !matches!(e.value.value, Value::Map(_) | Value::Seq(_) | Value::Null)
            && comments.get(e.id).is_none_or(|c| *c == Comments::default())
    });
    flat && inline_map(entries).len() <= INLINE_WIDTH - 20
}

impl Writer<'_> {
    fn of(&self, id: usize) -> Comments {
        self.comments.get(id).cloned().unwrap_or_default()
    }

    fn blank(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    fn comment_lines(&mut self, lines: &[String], indent: &str) {
        for line in lines {
            self.text.push_str(indent);
            self.text.push('#');
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    fn end_line(&mut self, trailing: Option<&str>) {
        if let Some(comment) = trailing {
            self.text.push_str(" #");
            self.text.push_str(comment);
        }
        self.text.push('\n');
    }

    /// A table: its header (if it needs one), its plain values, then its sub-tables.
    /// `carried` are comments from above that have no line of their own yet.
    fn table(&mut self, path: &[&str], entries: &[Entry], header: Header, carried: Vec<String>) {
        let shapes: Vec<Shape> = entries
            .iter()
            .map(|e| shape(&e.value, self.comments))
            .collect();
        let has_plain = shapes.iter().any(|s| matches!(s, Shape::Plain));
        let mut carried = carried;
        if header == Header::ArrayItem || (header == Header::Table && has_plain) {
            self.blank();
            self.comment_lines(&carried, "");
            carried.clear();
            let open = if header == Header::ArrayItem {
                "[["
            } else {
                "["
            };
            let close = if header == Header::ArrayItem {
                "]]"
            } else {
                "]"
            };
            self.text
                .push_str(&format!("{open}{}{close}\n", dotted(path)));
        } else if header == Header::None || has_plain {
            self.comment_lines(&carried, "");
            carried.clear();
        }
        for (entry, shape) in entries.iter().zip(&shapes) {
            let comments = self.of(entry.id);
            match shape {
                Shape::Plain => {
                    self.comment_lines(&comments.leading, "");
                    self.text.push_str(&key(&entry.key));
                    self.text.push_str(" = ");
                    let hoisted = self.value(&entry.value, "");
                    self.end_line(comments.trailing.as_deref());
                    if !hoisted.is_empty() {
                        // Nothing to hoist into on a one-line value: keep them just below.
                        self.comment_lines(&hoisted, "");
                    }
                }
                Shape::Absent => {
                    let mut lines = comments.leading.clone();
                    lines.extend(comments.trailing.clone());
                    self.comment_lines(&lines, "");
                }
                _ => {}
            }
        }
        for (entry, shape) in entries.iter().zip(&shapes) {
            if !matches!(shape, Shape::Table | Shape::Tables) {
                continue;
            }
            let mut comments = self.of(entry.id);
            let mut above = std::mem::take(&mut carried);
            above.append(&mut comments.leading);
            above.extend(comments.trailing.take());
            let mut sub: Vec<&str> = path.to_vec();
            sub.push(&entry.key);
            match (shape, &entry.value.value) {
                (Shape::Table, Value::Map(inner)) => self.table(&sub, inner, Header::Table, above),
                (Shape::Tables, Value::Seq(items)) => {
                    for item in items {
                        let Value::Map(inner) = &item.node.value else {
                            continue;
                        };
                        let mut item_comments = self.of(item.id);
                        let mut lines = std::mem::take(&mut above);
                        lines.append(&mut item_comments.leading);
                        lines.extend(item_comments.trailing.take());
                        self.table(&sub, inner, Header::ArrayItem, lines);
                    }
                }
                _ => {}
            }
        }
        if !carried.is_empty() {
            self.comment_lines(&carried, "");
        }
    }

    /// Writes a plain value; hands back the comments found inside it that found no place.
    fn value(&mut self, node: &Node, indent: &str) -> Vec<String> {
        match &node.value {
            Value::Seq(items) => self.array(items, indent),
            Value::Map(entries) => {
                let mut hoisted = Vec::new();
                collect_comments_map(entries, self.comments, &mut hoisted);
                self.text.push_str(&inline_map(entries));
                hoisted
            }
            _ => {
                self.text.push_str(&scalar(&node.value));
                Vec::new()
            }
        }
    }

    /// One line when short and without comments; else one item per line, comments kept.
    fn array(&mut self, items: &[Item], indent: &str) -> Vec<String> {
        let commented = items.iter().any(|i| {
            let mut found = Vec::new();
            collect_comments(&i.node, self.comments, &mut found);
            !found.is_empty() || self.of(i.id) != Comments::default()
        });
        let one_line = inline_seq(items);
        if !commented && one_line.len() <= INLINE_WIDTH - 20 && !one_line.contains('\n') {
            self.text.push_str(&one_line);
            return Vec::new();
        }
        let inner = format!("{indent}  ");
        self.text.push_str("[\n");
        for item in items {
            let comments = self.of(item.id);
            let mut above = comments.leading.clone();
            collect_comments(&item.node, self.comments, &mut above);
            self.comment_lines(&above, &inner);
            self.text.push_str(&inner);
            match &item.node.value {
                Value::Seq(nested) => {
                    let hoisted = self.array(nested, &inner);
                    self.text.push(',');
                    self.end_line(comments.trailing.as_deref());
                    self.comment_lines(&hoisted, &inner);
                }
                _ => {
                    self.text.push_str(&inline(&item.node));
                    self.text.push(',');
                    self.end_line(comments.trailing.as_deref());
                }
            }
        }
        self.text.push_str(indent);
        self.text.push(']');
        Vec::new()
    }
}

fn collect_comments(node: &Node, comments: &[Comments], out: &mut Vec<String>) {
    match &node.value {
        Value::Map(entries) => collect_comments_map(entries, comments, out),
        Value::Seq(items) => {
            for item in items {
                if let Some(c) = comments.get(item.id) {
                    out.extend(c.leading.iter().cloned());
                    out.extend(c.trailing.iter().cloned());
                }
                collect_comments(&item.node, comments, out);
            }
        }
        _ => {}
    }
}

fn collect_comments_map(entries: &[Entry], comments: &[Comments], out: &mut Vec<String>) {
    for entry in entries {
        if let Some(c) = comments.get(entry.id) {
            out.extend(c.leading.iter().cloned());
            out.extend(c.trailing.iter().cloned());
        }
        collect_comments(&entry.value, comments, out);
    }
}

/// A value on one line: `{ a = 1 }`, `[1, 2]`, `"x"`.
fn inline(node: &Node) -> String {
    match &node.value {
        Value::Map(entries) => inline_map(entries),
        Value::Seq(items) => inline_seq(items),
        value => scalar(value),
    }
}

fn inline_map(entries: &[Entry]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .filter(|e| e.value.value != Value::Null)
        .map(|e| format!("{} = {}", key(&e.key), inline(&e.value)))
        .collect();
    if parts.is_empty() {
        "{}".to_string()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

fn inline_seq(items: &[Item]) -> String {
    let parts: Vec<String> = items.iter().map(|i| inline(&i.node)).collect();
    format!("[{}]", parts.join(", "))
}

fn scalar(value: &Value) -> String {
    use toml_writer::ToTomlValue;
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => toml_writer::TomlStringBuilder::new(s)
            .as_default()
            .to_toml_value(),
        // A null never reaches here: it is left out of tables and refused in lists.
        Value::Null => "\"\"".to_string(),
        other => toml_number(other).unwrap_or_default(),
    }
}

fn key(name: &str) -> String {
    use toml_writer::ToTomlKey;
    toml_writer::TomlKeyBuilder::new(name)
        .as_default()
        .to_toml_key()
}

fn dotted(path: &[&str]) -> String {
    path.iter().map(|k| key(k)).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{self, Numbers};
    use serde::Deserialize;

    /// The YAML document's values and the converted TOML's, each as toml reads them.
    fn both(text: &str) -> (toml::Value, toml::Value, String) {
        let file = yaml::parse(text).unwrap();
        let document = &file.documents[0];
        let numbers = Numbers::of(&document.root);
        let from_yaml = toml::Value::deserialize(toml::de::Deserializer::from(
            document.to_table(&numbers).unwrap(),
        ))
        .unwrap();
        let converted = to_toml(document, &file.comments, "x.yaml");
        let from_toml: toml::Value =
            toml::from_str(&converted).unwrap_or_else(|e| panic!("{e}\n{converted}"));
        (from_yaml, from_toml, converted)
    }

    const TRICKY: &str = r#"# head
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: a # the name
  labels: {app: a, "app.kubernetes.io/name": a}
  annotations:
    note: "tab\there, quote \" and 'single'"
    empty: ""
spec:
  selector:
    matchLabels:
      app: a # must match
  template: # the pod
    metadata:
      labels:
        app: a
    spec:
      nodeSelector: ~
      containers:
      - name: c # first
        image: i
        args:
        - --a
        # between
        - |
          line one
          line "two" '''
        - ["nested", 1]
        - {k: v}
        env:
        - name: X
          value: "0644"
        resources: {}
        ports:
        - containerPort: 0644
          hostPort: 0x50
        securityContext:
          privileged: yes
      volumes:
      - name: v
        emptyDir: {}
      tolerations: []
  updateStrategy:
    rollingUpdate:
      maxUnavailable: 10%
    type: RollingUpdate
# tail
"#;

    #[test]
    fn converted_toml_holds_the_same_values() {
        let (from_yaml, from_toml, converted) = both(TRICKY);
        assert_eq!(from_yaml, from_toml, "{converted}");
        let ports = &from_toml["spec"]["template"]["spec"]["containers"][0]["ports"][0];
        assert_eq!(ports["containerPort"].as_integer(), Some(420));
        assert_eq!(ports["hostPort"].as_integer(), Some(80));
        for fixture in std::fs::read_dir("tests/fixtures/yaml").unwrap() {
            let path = fixture.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (a, b, converted) = both(&text);
            assert_eq!(a, b, "{}:\n{converted}", path.display());
        }
    }

    #[test]
    fn layout_and_comments() {
        let (_, _, converted) = both(TRICKY);
        for expected in [
            "# Converted from x.yaml by dsctl convert.\n# head\napiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\n",
            "[metadata]\nname = \"a\" # the name\nlabels = { app = \"a\", \"app.kubernetes.io/name\" = \"a\" }\n",
            "[spec.selector.matchLabels]\napp = \"a\" # must match\n",
            "# the pod\n[spec.template.metadata]\nlabels = { app = \"a\" }\n",
            "[[spec.template.spec.containers]]\nname = \"c\" # first\n",
            "  \"--a\",\n  # between\n",
            "resources = {}\n",
            "[[spec.template.spec.containers.ports]]\ncontainerPort = 420\nhostPort = 80\n",
            "emptyDir = {}\n",
            "tolerations = []\n",
            "\n# tail\n",
        ] {
            assert!(
                converted.contains(expected),
                "{expected:?} in:\n{converted}"
            );
        }
        assert!(!converted.contains("nodeSelector"), "{converted}");
    }

    #[test]
    fn file_names() {
        use crate::load::Kind;
        assert_eq!(file_name(Kind::DaemonSet, "web").unwrap(), "web.toml");
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(file_name(Kind::DaemonSet, bad).is_err(), "{bad:?}");
        }
    }
}

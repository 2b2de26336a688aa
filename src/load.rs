//! Reads spec and inventory files into the model, collecting every problem as a diagnostic
//! located in its file (the shell around `validate`).
//!
//! Per document: parse the TOML keeping spans; take out the Kubernetes fields the model does
//! not keep (see `validate::HOSTLESS_FIELDS`), warning about or refusing each; deserialize,
//! turning serde's error into a diagnostic with a suggestion for a misspelt field or variant;
//! then validate the model and map each finding's field path back to its span.

use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use crate::config_object::{self, ConfigMapDoc, ConfigObject, SecretDoc, Value};
use crate::config_refs::{self, Reference};
use crate::daemonset::DaemonSet;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile, TomlSpans, child, index};
use crate::inventory::InventoryFile;
use crate::validate::{self, Finding, Location, Target};
use crate::yaml;

/// A value read from a file, with the file kept for later diagnostics.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub value: T,
    pub source: Arc<SourceFile>,
    /// Where the object's `metadata.name` is written (a YAML file may hold several objects).
    pub name_span: Option<Range<usize>>,
}

/// Valid DaemonSets (each with the ConfigMaps and Secrets it uses bound in), the objects,
/// and the warnings met while reading them.
#[derive(Debug, Clone)]
pub struct LoadedSpecs {
    pub daemonsets: Vec<Loaded<DaemonSet>>,
    pub objects: Vec<Loaded<ConfigObject>>,
    pub warnings: Diagnostics,
}

/// An object reference and where it is written.
pub type LocatedReference = (Reference, Option<Range<usize>>);

/// What one file holds: DaemonSets with their object references (and where each is
/// written), and ConfigMaps and Secrets.
#[derive(Debug, Default)]
pub struct Parsed {
    pub daemonsets: Vec<(Loaded<DaemonSet>, Vec<LocatedReference>)>,
    pub objects: Vec<Loaded<ConfigObject>>,
    /// Objects that failed (their own errors are reported): references to them are not.
    pub invalid: Vec<config_object::ObjectKey>,
}

impl Parsed {
    fn extend(&mut self, other: Parsed) {
        self.daemonsets.extend(other.daemonsets);
        self.objects.extend(other.objects);
        self.invalid.extend(other.invalid);
    }
}

/// The kinds of object a spec file may hold; the loader dispatches on `kind`, so another
/// kind is one more variant here and one more arm in [`parse_object`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DaemonSet,
    ConfigMap,
    Secret,
}

impl Kind {
    pub const KNOWN: &'static [&'static str] = &["DaemonSet", "ConfigMap", "Secret"];

    /// The kind a document's `kind` names. A document without a string `kind` is read as a
    /// DaemonSet, so that the DaemonSet's own error names the missing or mistyped field.
    pub fn of(kind: Option<&str>) -> Option<Kind> {
        match kind {
            None | Some("DaemonSet") => Some(Kind::DaemonSet),
            Some("ConfigMap") => Some(Kind::ConfigMap),
            Some("Secret") => Some(Kind::Secret),
            Some(_) => None,
        }
    }
}

/// The refusal of a document whose kind dsctl does not read: named by its kind, before any
/// field of it is looked at.
pub fn unknown_kind(source: &Arc<SourceFile>, kind: &str, span: Range<usize>) -> Diagnostic {
    Diagnostic::error(
        source,
        "kind",
        format!(
            "unsupported kind `{kind}`: dsctl reads {}",
            Kind::KNOWN.join(", ")
        ),
    )
    .with_span(Some(span))
    .with_help(Some(
        "remove this document, or keep it in a file that is not passed to dsctl".into(),
    ))
}

/// Reads DaemonSet specs: each path a file, or a directory whose `*.toml`, `*.yaml` and
/// `*.yml` files are read (sorted, not recursive). A TOML file holds one object, a YAML file
/// one per `---` document. Every file is read and checked, so the error holds every problem
/// of every file; warnings come back with the specs (or, on error, among the diagnostics).
/// DaemonSet names must be unique across all the files.
pub fn daemonsets(paths: &[PathBuf]) -> Result<LoadedSpecs, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut parsed = Parsed::default();
    for path in spec_files(paths, &mut diags) {
        match read(&path) {
            Ok(source) => {
                let (found_objects, found) = parse_documents(&source);
                diags.extend(found);
                parsed.extend(found_objects);
            }
            Err(d) => diags.push(d),
        }
    }
    let (loaded, objects) = bind_objects(parsed, &mut diags);
    check_unique_names(&loaded, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(LoadedSpecs {
            daemonsets: loaded,
            objects,
            warnings: diags,
        })
    }
}

/// Checks object names (unique per kind) and every reference of every DaemonSet against the
/// objects of all the files, and binds into each DaemonSet the objects it uses.
fn bind_objects(
    parsed: Parsed,
    diags: &mut Diagnostics,
) -> (Vec<Loaded<DaemonSet>>, Vec<Loaded<ConfigObject>>) {
    let mut by_key: std::collections::BTreeMap<config_object::ObjectKey, &Loaded<ConfigObject>> =
        std::collections::BTreeMap::new();
    for object in &parsed.objects {
        let key = object.value.key();
        if let Some(earlier) = by_key.get(&key) {
            let earlier_at = Diagnostic::error(&earlier.source, "metadata.name", "")
                .with_span(earlier.name_span.clone())
                .location();
            diags.push(
                Diagnostic::error(
                    &object.source,
                    "metadata.name",
                    format!(
                        "Duplicate value: {:?}: {key} is also defined in {earlier_at}",
                        key.name
                    ),
                )
                .with_span(object.name_span.clone()),
            );
        } else {
            by_key.insert(key, object);
        }
    }
    let all: std::collections::BTreeMap<_, _> = by_key
        .iter()
        .map(|(k, o)| (k.clone(), o.value.clone()))
        .collect();
    let mut daemonsets = Vec::new();
    for (mut ds, refs) in parsed.daemonsets {
        for (reference, span) in &refs {
            let failed = parsed
                .invalid
                .iter()
                .any(|k| k.kind == reference.kind && k.name == reference.name);
            if let Some(mut finding) =
                config_refs::check_reference(reference, &all).filter(|_| !failed)
            {
                if crate::pull_secrets::is_reference_field(&reference.field) {
                    finding.help = Some(crate::pull_secrets::missing_help(&reference.name));
                }
                diags.push(Diagnostic {
                    severity: finding.severity,
                    file: Arc::clone(&ds.source),
                    span: span.clone(),
                    field: finding.field,
                    message: finding.message,
                    help: finding.help,
                });
            }
            let key = config_object::ObjectKey {
                kind: reference.kind,
                name: reference.name.clone(),
            };
            if let Some(object) = all.get(&key) {
                ds.value.objects.objects.insert(key, object.clone());
            }
        }
        for finding in crate::pull_secrets::findings(&ds.value) {
            let span = refs.iter().find(|(r, _)| r.field == finding.field);
            diags.push(Diagnostic {
                severity: finding.severity,
                file: Arc::clone(&ds.source),
                span: span.and_then(|(_, s)| s.clone()),
                field: finding.field,
                message: finding.message,
                help: finding.help,
            });
        }
        // envFrom keys that are no valid variable names are skipped, as the kubelet does.
        for c in ds
            .value
            .pod_spec()
            .containers
            .iter()
            .chain(&ds.value.pod_spec().init_containers)
        {
            let mut env = config_refs::Env::default();
            if config_refs::env_from(c, &ds.value.objects, &mut env).is_ok() {
                for name in env.skipped {
                    diags.push(
                        Diagnostic::warning(
                            &ds.source,
                            "envFrom",
                            format!("container {:?}: {name:?} is not a valid environment variable name, so envFrom skips it (as the kubelet does)", c.name),
                        )
                        .with_span(ds.name_span.clone()),
                    );
                }
            }
        }
        daemonsets.push(ds);
    }
    (daemonsets, parsed.objects)
}

/// What `validate` reports per file: every spec file read, whether it is valid, and the
/// DaemonSets that loaded.
pub struct CheckedSpecs {
    /// Each file read, in order, and whether it holds an error.
    pub files: Vec<(Arc<SourceFile>, bool)>,
    pub daemonsets: Vec<Loaded<DaemonSet>>,
    pub objects: Vec<Loaded<ConfigObject>>,
    pub diagnostics: Diagnostics,
}

/// Like [`daemonsets`], but keeps going: which files are valid, and every diagnostic.
pub fn check_daemonsets(paths: &[PathBuf]) -> CheckedSpecs {
    let mut diags = Diagnostics::new();
    let mut parsed = Parsed::default();
    let mut files = Vec::new();
    for path in spec_files(paths, &mut diags) {
        match read(&path) {
            Ok(source) => {
                let (found_objects, found) = parse_documents(&source);
                files.push((Arc::clone(&source), !found.has_errors()));
                diags.extend(found);
                parsed.extend(found_objects);
            }
            Err(d) => diags.push(d),
        }
    }
    let mut names = Diagnostics::new();
    let (loaded, objects) = bind_objects(parsed, &mut names);
    check_unique_names(&loaded, &mut names);
    for d in names.iter() {
        if let Some(file) = files.iter_mut().find(|(f, _)| Arc::ptr_eq(f, &d.file)) {
            file.1 = false;
        }
    }
    diags.extend(names);
    CheckedSpecs {
        files,
        daemonsets: loaded,
        objects,
        diagnostics: diags,
    }
}

/// Whether which hosts a DaemonSet runs on can depend on `field`: everything but the pod's
/// runtime fields (containers, volumes, security …) under `spec.template.spec`.
pub fn is_placement_field(field: &str) -> bool {
    let Some(rest) = field.strip_prefix("spec.template.spec.") else {
        return true;
    };
    let key = rest.split(['.', '[']).next().unwrap_or(rest);
    PLACEMENT_KEYS.contains(&key)
}

/// The pod spec's fields that decide placement (the DaemonSet controller's
/// `NodeShouldRunDaemonPod` reads only these).
const PLACEMENT_KEYS: [&str; 4] = ["nodeSelector", "nodeName", "affinity", "tolerations"];

/// For `explain`: the DaemonSets as placement needs them. An error in a field placement does
/// not depend on (a container's, a volume's) becomes a warning, and when such an error keeps
/// the whole document from loading, the placement fields alone are read.
pub fn daemonsets_for_placement(paths: &[PathBuf]) -> Result<LoadedSpecs, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut loaded = Vec::new();
    for path in spec_files(paths, &mut diags) {
        let source = match read(&path) {
            Ok(source) => source,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let (objects, found) = parse_objects(&source);
        // Placement reads no object: references are not checked here.
        let placement_ok = found.iter().all(|d| {
            d.severity != Severity::Error || (!d.field.is_empty() && !is_placement_field(&d.field))
        });
        if objects.is_empty() && placement_ok {
            // serde stopped at a runtime field before validation ran: check the placement
            // fields of the view, and keep their errors.
            if let Some(view) = placement_view(&source) {
                if let Some(spans) = TomlSpans::parse(&source.text) {
                    let findings = validate::validate_daemonset(&view)
                        .into_iter()
                        .filter(|f| is_placement_field(&f.field))
                        .collect();
                    push_findings(&source, &spans, findings, &mut diags);
                }
                loaded.push(Loaded {
                    value: view,
                    source: Arc::clone(&source),
                    name_span: None,
                });
            }
        }
        for mut d in found {
            if placement_ok && d.severity == Severity::Error {
                d.severity = Severity::Warning;
                d.message = format!(
                    "{} (explain goes on: placement does not depend on this field)",
                    d.message
                );
            }
            diags.push(d);
        }
        loaded.extend(objects);
    }
    check_unique_names(&loaded, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(LoadedSpecs {
            daemonsets: loaded,
            objects: Vec::new(),
            warnings: diags,
        })
    }
}

/// The document with only what placement reads: names, labels, and the pod's placement keys
/// (with no containers). `None` when even that does not load.
fn placement_view(source: &Arc<SourceFile>) -> Option<DaemonSet> {
    let doc: toml::Table = toml::from_str(&source.text).ok()?;
    let pick = |t: Option<&toml::Value>, keys: &[&str]| -> toml::Table {
        let mut out = toml::Table::new();
        if let Some(t) = t.and_then(toml::Value::as_table) {
            for k in keys {
                if let Some(v) = t.get(*k) {
                    out.insert((*k).to_string(), v.clone());
                }
            }
        }
        out
    };
    let spec = doc.get("spec");
    let template = spec.and_then(|s| s.get("template"));
    let mut pod = pick(template.and_then(|t| t.get("spec")), &PLACEMENT_KEYS);
    pod.insert("containers".into(), toml::Value::Array(vec![]));
    let mut template_out = toml::Table::new();
    template_out.insert(
        "metadata".into(),
        toml::Value::Table(pick(
            template.and_then(|t| t.get("metadata")),
            &["labels", "annotations"],
        )),
    );
    template_out.insert("spec".into(), toml::Value::Table(pod));
    let mut spec_out = pick(spec, &["selector"]);
    spec_out.insert("template".into(), toml::Value::Table(template_out));
    let mut out = pick(
        Some(&toml::Value::Table(doc.clone())),
        &["apiVersion", "kind"],
    );
    out.insert(
        "metadata".into(),
        toml::Value::Table(pick(
            doc.get("metadata"),
            &["name", "labels", "annotations"],
        )),
    );
    out.insert("spec".into(), toml::Value::Table(spec_out));
    toml::Value::Table(out).try_into().ok()
}

/// Reads and validates an inventory; warnings are dropped (see [`inventory_with_warnings`]).
pub fn inventory(path: &Path) -> Result<Loaded<InventoryFile>, Diagnostics> {
    inventory_with_warnings(path).map(|(inventory, _)| inventory)
}

/// Reads and validates an inventory, handing back its warnings too.
pub fn inventory_with_warnings(
    path: &Path,
) -> Result<(Loaded<InventoryFile>, Diagnostics), Diagnostics> {
    let source = read(path).map_err(|d| {
        Diagnostics::from(d.with_help(Some(
            "pass the inventory with -i PATH (or set DSCTL_INVENTORY)".into(),
        )))
    })?;
    let (inventory, diags) = parse_inventory(&source);
    match inventory {
        Some(value) if !diags.has_errors() => Ok((
            Loaded {
                value,
                source,
                name_span: None,
            },
            diags,
        )),
        _ => Err(diags),
    }
}

/// Parses and validates every object of a spec file (YAML by its `.yaml`/`.yml` extension,
/// TOML otherwise), dispatching on `kind`. The diagnostics hold every error and warning
/// found, in file order; an object comes back only if it deserialized.
pub fn parse_objects(source: &Arc<SourceFile>) -> (Vec<Loaded<DaemonSet>>, Diagnostics) {
    let (parsed, diags) = parse_documents(source);
    (
        parsed.daemonsets.into_iter().map(|(ds, _)| ds).collect(),
        diags,
    )
}

/// What [`daemonsets`] makes of one file's text alone: every document parsed, each
/// DaemonSet's references checked against the file's own objects and bound, names unique.
/// The fuzz targets' entry: a spec that comes out without errors is one apply would run.
pub fn parse_bound(source: &Arc<SourceFile>) -> (Vec<Loaded<DaemonSet>>, Diagnostics) {
    let (parsed, mut diags) = parse_documents(source);
    let (loaded, _) = bind_objects(parsed, &mut diags);
    check_unique_names(&loaded, &mut diags);
    (loaded, diags)
}

/// Every document of a spec file, by kind (see [`parse_objects`]).
pub fn parse_documents(source: &Arc<SourceFile>) -> (Parsed, Diagnostics) {
    let mut diags = Diagnostics::new();
    let mut objects = Parsed::default();
    if yaml::is_yaml(&source.path) {
        let file = match yaml::parse(&source.text) {
            Ok(file) => file,
            Err(err) => return (objects, yaml_diagnostic(source, err).into()),
        };
        if file.documents.is_empty() {
            diags.push(Diagnostic::error(
                source,
                "",
                "the YAML file holds no document",
            ));
        }
        for document in &file.documents {
            let numbers = yaml::Numbers::of(&document.root);
            match document.to_table(&numbers) {
                Ok(table) => {
                    let (object, found) = parse_object(source, table);
                    diags.extend(found);
                    objects.extend(object);
                }
                Err(err) => diags.push(yaml_diagnostic(source, err)),
            }
        }
    } else if let Some(table) = parse_toml(source, &mut diags) {
        let (object, found) = parse_object(source, table);
        diags.extend(found);
        objects.extend(object);
    }
    (objects, diags)
}

/// Parses and validates one DaemonSet document (the first object of the file). `None` when
/// it does not deserialize; the diagnostics hold every error and warning found.
pub fn parse_daemonset(source: &Arc<SourceFile>) -> (Option<DaemonSet>, Diagnostics) {
    let (objects, diags) = parse_objects(source);
    (objects.into_iter().next().map(|o| o.value), diags)
}

/// A YAML problem as a diagnostic of its file.
pub fn yaml_diagnostic(source: &Arc<SourceFile>, err: yaml::YamlError) -> Diagnostic {
    let help = err.help();
    Diagnostic::error(source, err.field, err.message)
        .with_span(Some(err.span))
        .with_help(help)
}

/// One document, by its kind.
fn parse_object(
    source: &Arc<SourceFile>,
    table: toml::Spanned<DeTable<'_>>,
) -> (Parsed, Diagnostics) {
    let mut diags = Diagnostics::new();
    let kind = table.get_ref().get("kind").and_then(|k| match k.get_ref() {
        DeValue::String(s) => Some((s.to_string(), k.span())),
        _ => None,
    });
    let spans = TomlSpans::from_table(table.get_ref().clone());
    match Kind::of(kind.as_ref().map(|(k, _)| k.as_str())) {
        Some(Kind::DaemonSet) => {
            let ds = parse_daemonset_table(source, table, &spans, &mut diags);
            let name_span = spans.value("metadata.name");
            let mut parsed = Parsed::default();
            if let Some(value) = ds {
                if !value.objects.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            source,
                            "usedObjects",
                            "Forbidden: written by dsctl in the hosts' records, not in a spec",
                        )
                        .with_span(spans.key("usedObjects")),
                    );
                }
                let refs = config_refs::references(&value)
                    .into_iter()
                    .map(|r| {
                        let span = spans
                            .value(&r.field)
                            .or_else(|| Some(spans.nearest(&r.field)));
                        (r, span)
                    })
                    .collect();
                parsed.daemonsets.push((
                    Loaded {
                        value,
                        source: Arc::clone(source),
                        name_span,
                    },
                    refs,
                ));
            }
            (parsed, in_file_order(diags))
        }
        Some(kind @ (Kind::ConfigMap | Kind::Secret)) => {
            if kind == Kind::Secret {
                source.redact(crate::secret_redaction::secret_value_ranges(
                    table.get_ref(),
                ));
            }
            let name = table
                .get_ref()
                .get("metadata")
                .and_then(|m| match m.get_ref() {
                    DeValue::Table(t) => t.get("name").and_then(|n| match n.get_ref() {
                        DeValue::String(s) => Some(s.to_string()),
                        _ => None,
                    }),
                    _ => None,
                });
            let object = parse_config_object(kind, source, table, &spans, &mut diags);
            let mut parsed = Parsed::default();
            if let (None, Some(name)) = (&object, name) {
                parsed.invalid.push(config_object::ObjectKey {
                    kind: if kind == Kind::Secret {
                        config_object::ObjectKind::Secret
                    } else {
                        config_object::ObjectKind::ConfigMap
                    },
                    name,
                });
            }
            parsed.objects.extend(object.map(|value| Loaded {
                value,
                source: Arc::clone(source),
                name_span: spans.value("metadata.name"),
            }));
            (parsed, in_file_order(diags))
        }
        None => {
            let (kind, span) = kind.unwrap_or_default();
            diags.push(unknown_kind(source, &kind, span));
            (Parsed::default(), diags)
        }
    }
}

fn parse_daemonset_table(
    source: &Arc<SourceFile>,
    mut table: toml::Spanned<DeTable<'_>>,
    spans: &TomlSpans<'_>,
    diags: &mut Diagnostics,
) -> Option<DaemonSet> {
    strip_undeclared(table.get_mut(), Walk::DaemonSet, "", source, diags);
    let ds: Option<DaemonSet> = deserialize(table, source, spans, diags);
    if let Some(ds) = &ds {
        push_findings(source, spans, validate::validate_daemonset(ds), diags);
    }
    ds
}

/// A ConfigMap or Secret document, validated and normalised (config_object.rs). A Secret's
/// `[dsctl.valueFrom]` sources are read here, on the machine that runs dsctl; a failure
/// names the source and never shows what was read.
fn parse_config_object(
    kind: Kind,
    source: &Arc<SourceFile>,
    table: toml::Spanned<DeTable<'_>>,
    spans: &TomlSpans<'_>,
    diags: &mut Diagnostics,
) -> Option<ConfigObject> {
    let (object, findings) = if kind == Kind::ConfigMap {
        let doc: ConfigMapDoc = deserialize(table, source, spans, diags)?;
        config_object::config_map(&doc)
    } else {
        let doc: SecretDoc = deserialize(table, source, spans, diags)?;
        let mut sourced = std::collections::BTreeMap::new();
        for (key, from) in doc.dsctl.iter().flat_map(|d| d.value_from.iter()) {
            let field = crate::diagnostic::key("dsctl.valueFrom", key);
            match read_value_source(source, from) {
                Ok(Some(value)) => {
                    sourced.insert(key.clone(), value);
                }
                Ok(None) => {}
                Err((which, why)) => {
                    let at = child(&field, which);
                    diags.push(
                        Diagnostic::error(
                            source,
                            &at,
                            format!("secret {:?} key {key:?}: {why}", doc.metadata.name),
                        )
                        .with_span(spans.value(&at).or_else(|| Some(spans.nearest(&at)))),
                    );
                }
            }
        }
        config_object::secret(&doc, &sourced)
    };
    push_findings(source, spans, findings, diags);
    object.filter(|_| !diags.has_errors())
}

/// The bytes a `[dsctl.valueFrom]` source gives (`None`: no single source, reported by
/// validation), or which part failed and why, without the value.
fn read_value_source(
    source: &Arc<SourceFile>,
    from: &config_object::ValueSource,
) -> Result<Option<Value>, (&'static str, String)> {
    // A fuzzer's mutations of a source would run arbitrary commands and read any file.
    if cfg!(fuzzing) && (from.file.is_some() || from.env.is_some() || from.command.is_some()) {
        return Err(("source", "not read while fuzzing".to_string()));
    }
    match (&from.file, &from.env, &from.command) {
        (Some(file), None, None) => {
            let base = source.path.parent().unwrap_or(Path::new("."));
            let path = base.join(file);
            fs::read(&path)
                .map(|b| Some(Value::new(b)))
                .map_err(|e| ("file", format!("cannot read {}: {e}", path.display())))
        }
        (None, Some(var), None) => match std::env::var_os(var) {
            Some(v) => {
                use std::os::unix::ffi::OsStrExt;
                let bytes = v.as_bytes();
                Ok(Some(Value::new(bytes.strip_suffix(b"\n").unwrap_or(bytes))))
            }
            None => Err(("env", format!("the environment variable {var} is not set"))),
        },
        (None, None, Some(argv)) if !argv.is_empty() => {
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| ("command", format!("cannot run {argv:?}: {e}")))?;
            if !out.status.success() {
                // stderr is the command's own message; stdout (the value) is never shown.
                let stderr = String::from_utf8_lossy(&out.stderr);
                let first = stderr.lines().next().unwrap_or("").trim();
                let first: String = first.chars().take(200).collect();
                return Err((
                    "command",
                    format!(
                        "{argv:?} failed ({}){}",
                        out.status,
                        if first.is_empty() {
                            String::new()
                        } else {
                            format!(": {first}")
                        }
                    ),
                ));
            }
            let bytes = out.stdout;
            let bytes = bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec();
            Ok(Some(Value::new(bytes)))
        }
        _ => Ok(None),
    }
}

/// Diagnostics of one file sorted by position, so the report reads top to bottom.
fn in_file_order(diags: Diagnostics) -> Diagnostics {
    let mut all: Vec<Diagnostic> = diags.into_iter().collect();
    all.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    all.into_iter().collect()
}

/// Parses and validates one inventory document.
pub fn parse_inventory(source: &Arc<SourceFile>) -> (Option<InventoryFile>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let Some(table) = parse_toml(source, &mut diags) else {
        return (None, diags);
    };
    let spans = TomlSpans::from_table(table.get_ref().clone());
    let inventory: Option<InventoryFile> = deserialize(table, source, &spans, &mut diags);
    if let Some(inventory) = &inventory {
        push_findings(
            source,
            &spans,
            validate::validate_inventory(inventory),
            &mut diags,
        );
    }
    (inventory, in_file_order(diags))
}

fn read(path: &Path) -> Result<Arc<SourceFile>, Diagnostic> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Arc::new(SourceFile::new(path, text))),
        Err(err) => {
            let file = Arc::new(SourceFile::new(path, ""));
            Err(Diagnostic::error(
                &file,
                "",
                format!("cannot read the file: {err}"),
            ))
        }
    }
}

/// Files named by `-f`: files as given, directories expanded to their spec files. Each file
/// once, even if named twice.
fn spec_files(paths: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match spec_files_in(path) {
                Ok(found) if found.is_empty() => {
                    let dir = Arc::new(SourceFile::new(path, ""));
                    diags.push(
                        Diagnostic::error(
                            &dir,
                            "",
                            "the directory holds no *.toml, *.yaml or *.yml files",
                        )
                        .with_help(Some(
                            "point -f at DaemonSet TOML or YAML files or a directory of them"
                                .into(),
                        )),
                    );
                }
                Ok(found) => files.extend(found),
                Err(err) => {
                    let dir = Arc::new(SourceFile::new(path, ""));
                    diags.push(Diagnostic::error(
                        &dir,
                        "",
                        format!("cannot list the directory: {err}"),
                    ));
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    files
}

fn spec_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let spec = name.ends_with(".toml") || yaml::is_yaml(&path);
        if path.is_file() && spec && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Two files defining the same DaemonSet would fight over the same units on the hosts.
fn check_unique_names(loaded: &[Loaded<DaemonSet>], diags: &mut Diagnostics) {
    let mut first: HashMap<&str, &Loaded<DaemonSet>> = HashMap::new();
    for ds in loaded {
        let name = ds.value.name();
        match first.get(name) {
            None => {
                first.insert(name, ds);
            }
            Some(earlier) => {
                let earlier_at = Diagnostic::error(&earlier.source, "metadata.name", "")
                    .with_span(earlier.name_span.clone())
                    .location();
                let span = ds.name_span.clone();
                diags.push(
                    Diagnostic::error(
                        &ds.source,
                        "metadata.name",
                        format!("Duplicate value: {name:?}: DaemonSet {name:?} is also defined in {earlier_at}"),
                    )
                    .with_span(span)
                    .with_help(Some("each DaemonSet name must be unique across all the -f files".into())),
                );
            }
        }
    }
}

fn parse_toml<'t>(
    source: &'t Arc<SourceFile>,
    diags: &mut Diagnostics,
) -> Option<toml::Spanned<DeTable<'t>>> {
    let (table, errors) = DeTable::parse_recoverable(&source.text);
    if errors.is_empty() {
        return Some(table);
    }
    let mut seen = std::collections::HashSet::new();
    for err in errors {
        if seen.insert(err.span()) {
            diags.push(
                Diagnostic::error(source, "", format!("TOML syntax error: {}", err.message()))
                    .with_span(err.span()),
            );
        }
    }
    None
}

fn deserialize<T: DeserializeOwned>(
    table: toml::Spanned<DeTable<'_>>,
    source: &Arc<SourceFile>,
    spans: &TomlSpans<'_>,
    diags: &mut Diagnostics,
) -> Option<T> {
    match T::deserialize(toml::de::Deserializer::from(table)) {
        Ok(value) => Some(value),
        Err(err) => {
            diags.push(serde_diagnostic(&err, source, spans));
            None
        }
    }
}

/// Turns serde's error (one per document) into a diagnostic naming the field, with a
/// suggestion where a name or variant was misspelt.
fn serde_diagnostic(
    err: &toml::de::Error,
    source: &Arc<SourceFile>,
    spans: &TomlSpans<'_>,
) -> Diagnostic {
    let span = err.span();
    let at = span
        .as_ref()
        .map(|span| spans.field_at(span))
        .unwrap_or_default();
    let message = err.message().trim().to_string();
    let (field, message, help) = if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected = backticked(rest.get(name.len() + 1..).unwrap_or_default());
        (
            at,
            format!("unknown field `{name}`"),
            Some(suggestion(name, &expected, "fields")),
        )
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected = backticked(rest.get(name.len() + 1..).unwrap_or_default());
        (
            at,
            format!("unknown value `{name}`"),
            Some(suggestion(name, &expected, "values")),
        )
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        (
            child(&at, name),
            format!("missing required field `{name}`"),
            None,
        )
    } else if message.contains("did not match any variant of untagged enum") {
        let last = at.rsplit(['.', '[']).next().unwrap_or_default();
        let help = if matches!(last, "maxUnavailable" | "maxSurge" | "port") {
            "expected an integer, or a string such as \"25%\" (a percentage) or \"http\" (a port name)"
        } else {
            "expected a Kubernetes quantity: cpu like 2, 0.5 or \"100m\"; memory like \"128Mi\", \"1G\" or 1000"
        };
        (at, "invalid value".to_string(), Some(help.to_string()))
    } else {
        (at, readable_types(&message), None)
    };
    Diagnostic::error(source, field, message)
        .with_span(span)
        .with_help(help)
}

/// The names serde lists after "expected": every `backticked` word.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// "did you mean `nodeSelector`?", or the valid names when none is close.
fn suggestion(name: &str, expected: &[String], what: &str) -> String {
    match nearest(name, expected) {
        Some(best) => format!("did you mean `{best}`?"),
        None if expected.is_empty() => format!("no {what} are allowed here"),
        None => format!(
            "valid {what} here: {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The candidate a typo most likely meant: equal up to case, `_` and `-` (snake_case for
/// camelCase), or within a small edit distance.
fn nearest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let normalize = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    let wanted = normalize(name);
    if let Some(exact) = candidates.iter().find(|c| normalize(c) == wanted) {
        return Some(exact);
    }
    let limit = (wanted.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&wanted, &normalize(c)), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.as_str())
}

/// serde's Rust type names, in words a TOML author knows.
fn readable_types(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, words) in [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct", "expected a table for"),
    ] {
        out = out.replace(rust, words);
    }
    out
}

fn push_findings(
    source: &Arc<SourceFile>,
    spans: &TomlSpans<'_>,
    findings: Vec<Finding>,
    diags: &mut Diagnostics,
) {
    for finding in findings {
        let exact = match finding.target {
            Target::Key => spans.key(&finding.field),
            Target::Value => spans.value(&finding.field),
        };
        let span = Some(exact.unwrap_or_else(|| spans.nearest(&finding.field)));
        diags.push(Diagnostic {
            severity: finding.severity,
            file: Arc::clone(source),
            span,
            field: finding.field,
            message: finding.message,
            help: finding.help,
        });
    }
}

/// The shape of a spec document, to know which Kubernetes type each table is.
#[derive(Clone, Copy)]
enum Walk {
    DaemonSet,
    Spec,
    Template,
    TemplateMeta,
    Meta,
    Pod,
    Container,
    Other(Location),
}

impl Walk {
    fn location(self) -> Option<Location> {
        Some(match self {
            Walk::DaemonSet => Location::DaemonSet,
            Walk::Spec => Location::DaemonSetSpec,
            Walk::Template => return None,
            Walk::TemplateMeta => Location::TemplateMeta,
            Walk::Meta => Location::ObjectMeta,
            Walk::Pod => Location::PodSpec,
            Walk::Container => Location::Container,
            Walk::Other(location) => location,
        })
    }

    /// Nested tables (or arrays of tables) worth visiting.
    fn children(self) -> &'static [(&'static str, Walk)] {
        match self {
            Walk::DaemonSet => &[("metadata", Walk::Meta), ("spec", Walk::Spec)],
            Walk::Spec => &[("template", Walk::Template)],
            Walk::Template => &[("metadata", Walk::TemplateMeta), ("spec", Walk::Pod)],
            Walk::Pod => &[
                ("securityContext", Walk::Other(Location::PodSecurityContext)),
                ("containers", Walk::Container),
                ("initContainers", Walk::Container),
                ("volumes", Walk::Other(Location::Volume)),
            ],
            Walk::Container => &[
                ("securityContext", Walk::Other(Location::SecurityContext)),
                ("resources", Walk::Other(Location::Resources)),
                ("volumeMounts", Walk::Other(Location::VolumeMount)),
            ],
            _ => &[],
        }
    }
}

/// Takes out of the document the Kubernetes fields the model does not keep, with a warning
/// or an error for each (so they never reach serde's "unknown field").
fn strip_undeclared(
    table: &mut DeTable<'_>,
    walk: Walk,
    path: &str,
    source: &Arc<SourceFile>,
    diags: &mut Diagnostics,
) {
    if let Some(location) = walk.location() {
        let mut remove = Vec::new();
        for (k, v) in table.iter() {
            let key = k.get_ref().as_ref();
            let Some(row) = validate::hostless_field(location, key) else {
                continue;
            };
            if row.declared {
                continue;
            }
            remove.push(key.to_string());
            let field = child(path, key);
            if let Some(finding) =
                validate::check_hostless(location, key, &to_value(v.get_ref()), &field)
            {
                diags.push(Diagnostic {
                    severity: finding.severity,
                    file: Arc::clone(source),
                    span: Some(k.span()),
                    field: finding.field,
                    message: finding.message,
                    help: finding.help,
                });
            }
        }
        for key in remove {
            table.remove(key.as_str());
        }
    }
    for (name, next) in walk.children() {
        let Some(value) = table.get_mut(*name) else {
            continue;
        };
        let field = child(path, name);
        match value.get_mut() {
            DeValue::Table(inner) => strip_undeclared(inner, *next, &field, source, diags),
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let DeValue::Table(inner) = item.get_mut() {
                        strip_undeclared(inner, *next, &index(&field, i), source, diags);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A parsed TOML value as a `toml::Value`, to judge a hostless field's value.
fn to_value(value: &DeValue<'_>) -> toml::Value {
    match value {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(i.as_str().to_string())),
        DeValue::Float(f) => toml::Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(items) => {
            toml::Value::Array(items.iter().map(|v| to_value(v.get_ref())).collect())
        }
        DeValue::Table(table) => toml::Value::Table(
            table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_value(v.get_ref())))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;

    fn load(text: &str) -> (Option<DaemonSet>, Vec<Diagnostic>) {
        let source = Arc::new(SourceFile::new("t.toml", text));
        let (ds, diags) = parse_daemonset(&source);
        (ds, diags.into_iter().collect())
    }

    const BASE: &str = "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\n[metadata]\nname = \"a\"\n[spec.selector.matchLabels]\napp = \"a\"\n[spec.template.metadata.labels]\napp = \"a\"\n[[spec.template.spec.containers]]\nname = \"c\"\nimage = \"i\"\n";

    #[test]
    fn suggestions() {
        let fields: Vec<String> = [
            "containers",
            "nodeSelector",
            "nodeName",
            "hostNetwork",
            "hostPID",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cases = [
            ("nodeSelectr", Some("nodeSelector")),
            ("node_selector", Some("nodeSelector")),
            ("hostpid", Some("hostPID")),
            ("contianers", Some("containers")),
            ("nodname", Some("nodeName")),
            ("tolerations", None),
            ("x", None),
        ];
        for (typo, want) in cases {
            assert_eq!(nearest(typo, &fields), want, "{typo}");
        }
        assert_eq!(
            backticked(", expected one of `containers`, `nodeSelector`"),
            vec!["containers", "nodeSelector"]
        );
        assert_eq!(
            backticked(", expected `NoSchedule` or `NoExecute`"),
            vec!["NoSchedule", "NoExecute"]
        );
    }

    #[test]
    fn unknown_field_names_its_path_and_suggests() {
        let (ds, diags) = load(&format!(
            "{BASE}[spec.template.spec]\nnodeSelectr = {{ a = \"b\" }}\n"
        ));
        assert!(ds.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        let d = &diags[0];
        assert_eq!(d.field, "spec.template.spec.nodeSelectr");
        assert_eq!(d.message, "unknown field `nodeSelectr`");
        assert_eq!(d.help.as_deref(), Some("did you mean `nodeSelector`?"));
        assert_eq!(&d.file.text[d.span.clone().unwrap()], "nodeSelectr");
    }

    #[test]
    fn undeclared_fields_are_warned_or_refused_with_their_span() {
        let text = BASE.replace(
            "[metadata]\nname = \"a\"\n",
            "[metadata]\nname = \"a\"\nuid = \"1234\"\nresourceVersion = \"5\"\n",
        ) + "tty = true\nstdin = false\n[spec.template.spec.containers.securityContext]\nprocMount = \"Default\"\n";
        let (ds, diags) = load(&text);
        assert!(ds.is_some(), "{diags:#?}");
        let found: Vec<(Severity, &str)> = diags
            .iter()
            .map(|d| (d.severity, d.field.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (Severity::Warning, "metadata.uid"),
                (Severity::Warning, "metadata.resourceVersion"),
                (Severity::Warning, "spec.template.spec.containers[0].tty"),
            ]
        );
        assert_eq!(&text[diags[2].span.clone().unwrap()], "tty");

        let (ds, diags) = load(&format!(
            "{BASE}[[spec.template.spec.volumes]]\nname = \"v\"\nnfs = {{ server = \"x\", path = \"/\" }}\n"
        ));
        assert!(ds.is_some());
        let refused: Vec<&str> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.field.as_str())
            .collect();
        assert_eq!(
            refused,
            vec![
                "spec.template.spec.volumes[0]",
                "spec.template.spec.volumes[0].nfs"
            ]
        );
    }

    #[test]
    fn serde_errors_become_located_diagnostics() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            (
                "[[spec.template.spec.containers.ports]]\ncontainerPort = \"80\"\n",
                "spec.template.spec.containers[0].ports[0].containerPort",
                "invalid type: string \"80\", expected an integer",
                None,
            ),
            (
                "[[spec.template.spec.tolerations]]\nkey = \"k\"\neffect = \"NoSchedul\"\n",
                "spec.template.spec.tolerations[0].effect",
                "unknown value `NoSchedul`",
                Some("did you mean `NoSchedule`?"),
            ),
            (
                "[[spec.template.spec.containers]]\nimage = \"x\"\n",
                "spec.template.spec.containers[1].name",
                "missing required field `name`",
                None,
            ),
            (
                "[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = true\n",
                "spec.updateStrategy.rollingUpdate.maxUnavailable",
                "invalid value",
                Some(
                    "expected an integer, or a string such as \"25%\" (a percentage) or \"http\" (a port name)",
                ),
            ),
        ];
        for (extra, field, message, help) in cases {
            let (ds, diags) = load(&format!("{BASE}{extra}"));
            assert!(ds.is_none());
            assert_eq!(diags.len(), 1, "{diags:#?}");
            assert_eq!(
                (diags[0].field.as_str(), diags[0].message.as_str()),
                (*field, *message)
            );
            assert_eq!(diags[0].help.as_deref(), *help);
            assert!(diags[0].span.is_some());
        }
        let (_, diags) = load("apiVersion = \"apps/v1\"\n");
        assert_eq!(diags[0].field, "kind");
    }

    #[test]
    fn a_kind_dsctl_does_not_read_is_refused_by_its_kind() {
        let (ds, diags) = load(&BASE.replace("\"DaemonSet\"", "\"ServiceAccount\""));
        assert!(ds.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].field, "kind");
        assert_eq!(
            diags[0].message,
            "unsupported kind `ServiceAccount`: dsctl reads DaemonSet, ConfigMap, Secret"
        );
        assert_eq!(
            &diags[0].file.text[diags[0].span.clone().unwrap()],
            "\"ServiceAccount\""
        );
        // Read as YAML, each document on its own.
        let source = Arc::new(SourceFile::new(
            "t.yaml",
            "kind: Role\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\n",
        ));
        let (objects, diags) = parse_objects(&source);
        assert!(objects.is_empty());
        let found: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            found,
            vec![
                "unsupported kind `Role`: dsctl reads DaemonSet, ConfigMap, Secret",
                "missing required field `spec`"
            ]
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let (ds, diags) = load("apiVersion = \"apps/v1\nkind = 1\n");
        assert!(ds.is_none());
        assert!(!diags.is_empty());
        assert!(
            diags[0].message.starts_with("TOML syntax error"),
            "{diags:#?}"
        );
        assert!(diags[0].span.is_some());
    }

    #[test]
    fn findings_point_at_values_or_keys() {
        let text = BASE.replace(
            "app = \"a\"\n[[spec",
            "app = \"a\"\n\"-bad\" = \"x\"\n[[spec",
        ) + "[[spec.template.spec.containers.ports]]\ncontainerPort = 70000\n";
        let (_, diags) = load(&text);
        let port = diags
            .iter()
            .find(|d| d.field.ends_with("containerPort"))
            .unwrap();
        assert_eq!(&text[port.span.clone().unwrap()], "70000");
        let key = diags
            .iter()
            .find(|d| d.field == "spec.template.metadata.labels[-bad]")
            .unwrap();
        assert_eq!(&text[key.span.clone().unwrap()], "\"-bad\"");
    }
}

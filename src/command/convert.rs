//! `dsctl convert -f FILE.yaml [-o DIR]`: Kubernetes YAML manifests as dsctl TOML, one file
//! per object (`NAME.toml`), comments kept. Every document is checked before anything is
//! written, so a bad file writes nothing; the output is read back and compared with the YAML.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::EXIT_INVALID;
use crate::cli::ConvertArgs;
use crate::convert;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::load::{self, Kind};
use crate::yaml;

/// One object ready to be written.
struct Converted {
    file_name: String,
    toml: String,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    let mut diags = Diagnostics::new();
    let mut converted = Vec::new();
    for path in &args.files {
        convert_file(path, &mut converted, &mut diags);
    }
    let mut seen = HashSet::new();
    for c in &converted {
        if !seen.insert(c.file_name.as_str()) {
            crate::errln!(
                "error: two objects would both be written to {}: give them different metadata.name",
                c.file_name
            );
            return Ok(EXIT_INVALID);
        }
    }
    if diags.has_errors() {
        diags.eprint();
        crate::errln!("invalid: {}", diags.summary());
        return Ok(EXIT_INVALID);
    }
    let Some(dir) = &args.output_dir else {
        if converted.len() != 1 {
            crate::errln!(
                "error: the input holds {} objects: pass -o DIR to write one file each",
                converted.len()
            );
            return Ok(EXIT_INVALID);
        }
        crate::output::print(&converted[0].toml)?;
        return Ok(0);
    };
    let targets: Vec<(PathBuf, &Converted)> = converted
        .iter()
        .map(|c| (dir.join(&c.file_name), c))
        .collect();
    if !args.overwrite
        && let Some((existing, _)) = targets.iter().find(|(p, _)| p.exists())
    {
        crate::errln!(
            "error: {} exists (pass --overwrite to replace it); nothing written",
            existing.display()
        );
        return Ok(EXIT_INVALID);
    }
    std::fs::create_dir_all(dir)?;
    for (path, c) in targets {
        std::fs::write(&path, &c.toml)?;
        crate::outln!("wrote {}", path.display())?;
    }
    Ok(0)
}

fn convert_file(path: &PathBuf, converted: &mut Vec<Converted>, diags: &mut Diagnostics) {
    let source = match std::fs::read_to_string(path) {
        Ok(text) => Arc::new(SourceFile::new(path, text)),
        Err(err) => {
            let file = Arc::new(SourceFile::new(path, ""));
            diags.push(Diagnostic::error(
                &file,
                "",
                format!("cannot read the file: {err}"),
            ));
            return;
        }
    };
    if !yaml::is_yaml(path) {
        diags.push(Diagnostic::error(
            &source,
            "",
            "not a YAML file (.yaml or .yml); TOML specs need no conversion",
        ));
        return;
    }
    let file = match yaml::parse(&source.text) {
        Ok(file) => file,
        Err(err) => {
            diags.push(load::yaml_diagnostic(&source, err));
            return;
        }
    };
    if file.documents.is_empty() {
        diags.push(Diagnostic::error(
            &source,
            "",
            "the YAML file holds no document",
        ));
    }
    for document in &file.documents {
        let kind = document.kind();
        let Some(known) = Kind::of(kind.as_ref().map(|(k, _)| *k)) else {
            if let Some((kind, span)) = kind {
                diags.push(load::unknown_kind(&source, kind, span));
            }
            continue;
        };
        let numbers = yaml::Numbers::of(&document.root);
        if let Err(err) = document.to_table(&numbers) {
            diags.push(load::yaml_diagnostic(&source, err));
            continue;
        }
        let Some((name, name_span)) = document.string_at("metadata.name") else {
            diags.push(
                Diagnostic::error(
                    &source,
                    "metadata.name",
                    "missing: the TOML file is named after it",
                )
                .with_span(Some(document.root.span.clone())),
            );
            continue;
        };
        let file_name = match convert::file_name(known, name) {
            Ok(file_name) => file_name,
            Err(message) => {
                diags.push(
                    Diagnostic::error(&source, "metadata.name", message).with_span(Some(name_span)),
                );
                continue;
            }
        };
        let toml = convert::to_toml(document, &file.comments, &source.name());
        if let Err(message) = convert::verify(document, &toml) {
            diags.push(
                Diagnostic::error(
                    &source,
                    "",
                    format!("cannot convert this document: {message}"),
                )
                .with_span(Some(document.root.span.clone())),
            );
            continue;
        }
        converted.push(Converted { file_name, toml });
    }
}

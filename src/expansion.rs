//! `$(VAR)` expansion in env values, command, args and subPathExpr, with the kubelet's
//! semantics (k8s third_party/forked/golang/expansion, used by pkg/kubelet/kubelet_pods.go and
//! pkg/kubelet/container/helpers.go). Pure.
//!
//! - `$(NAME)` is replaced by NAME's value; an undefined NAME stays as written, `$(NAME)`;
//! - `$$` is an escaped `$`: `$$(NAME)` gives `$(NAME)`;
//! - any other `$` (a lone `$`, `$NAME`, `${NAME}`, `$(` without `)`) stays as written;
//! - the name runs to the first `)`: references do not nest.
//!
//! For env values the variables are those declared before, in order (a later one is not seen
//! yet, so it stays as written); command and args see the container's whole resolved env.

use std::collections::HashMap;

/// `input` with each `$(name)` replaced by `mapping(name)`, the `$$` escapes undone and every
/// other `$` kept. The kubelet's `expansion.Expand`.
pub fn expand_with(input: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.as_bytes().first() {
            // A `$` that ends the input is kept.
            None => {
                out.push('$');
                rest = after;
            }
            // `$$`: an escaped operator.
            Some(b'$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some(b'(') => match after.find(')') {
                Some(close) => {
                    out.push_str(&mapping(&after[1..close]));
                    rest = &after[close + 1..];
                }
                // An unterminated `$(` is kept, and scanning goes on after the `(`.
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            // `$` before anything else is kept; what follows is ordinary text.
            Some(_) => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Variables to expand from: the first context that defines a name wins, as the kubelet's
/// `MappingFuncFor(contexts…)`; an undefined name gives `$(name)` back.
pub fn expand(input: &str, contexts: &[&HashMap<String, String>]) -> String {
    expand_with(input, |name| {
        contexts
            .iter()
            .find_map(|vars| vars.get(name))
            .cloned()
            .unwrap_or_else(|| format!("$({name})"))
    })
}

/// A container's resolved environment as the expansion of command and args sees it: the
/// later of two equal names wins.
pub fn env_map(env: &[(String, String)]) -> HashMap<String, String> {
    env.iter().cloned().collect()
}

/// Why a volumeMount's subPathExpr cannot be used (the kubelet's errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubPathError {
    #[error("missing value for {}", .0.join(", "))]
    Missing(Vec<String>),
    #[error("subPath `{0}` must not be an absolute path")]
    Absolute(String),
    #[error("subPath `{0}` must not contain '..'")]
    Backsteps(String),
}

/// A subPathExpr expanded from the container's env, as `ExpandContainerVolumeMounts` and
/// `makeMounts` do: every referenced variable must be defined and non-empty, and the result
/// must be relative without a `..` element.
pub fn expand_sub_path(expr: &str, env: &HashMap<String, String>) -> Result<String, SubPathError> {
    let mut missing = std::collections::BTreeSet::new();
    let expanded = expand_with(expr, |name| match env.get(name) {
        Some(value) if !value.is_empty() => value.clone(),
        _ => {
            missing.insert(name.to_string());
            String::new()
        }
    });
    if !missing.is_empty() {
        return Err(SubPathError::Missing(missing.into_iter().collect()));
    }
    check_sub_path(&expanded)?;
    Ok(expanded)
}

/// `makeMounts`' checks of a subPath: not absolute, and no `..` element
/// (`ValidatePathNoBacksteps`).
pub fn check_sub_path(path: &str) -> Result<(), SubPathError> {
    if path.starts_with('/') {
        return Err(SubPathError::Absolute(path.to_string()));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(SubPathError::Backsteps(path.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// expand_test.go `TestMapReference`: each env value sees the ones declared before it.
    #[test]
    fn map_reference() {
        let envs = [("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")];
        let mut declared = vars(&envs);
        let service = HashMap::new();
        for (name, value) in envs {
            let expanded = expand(value, &[&declared, &service]);
            declared.insert(name.to_string(), expanded);
        }
        assert_eq!(
            declared,
            vars(&[("FOO", "bar"), ("ZOO", "bar-1"), ("BLU", "bar-1-2")])
        );
    }

    /// expand_test.go `doExpansionTest`, case by case.
    const CASES: &[(&str, &str, &str)] = &[
        ("whole string", "$(VAR_A)", "A"),
        ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
        ("beginning", "$(VAR_A)-1", "A-1"),
        ("middle", "___$(VAR_B)___", "___B___"),
        ("end", "___$(VAR_C)", "___C"),
        ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        (
            "compound escape",
            "$$(VAR_A)_$$(VAR_B)",
            "$(VAR_A)_$(VAR_B)",
        ),
        ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
        ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
        (
            "backslash escape ignored",
            "foo\\\\$(VAR_C)bar",
            "foo\\\\Cbar",
        ),
        (
            "lots of backslashes",
            "foo\\\\\\\\$(VAR_A)bar",
            "foo\\\\\\\\Abar",
        ),
        (
            "nested var references",
            "$(VAR_A$(VAR_B))",
            "$(VAR_A$(VAR_B))",
        ),
        (
            "nested var references second type",
            "$(VAR_A$(VAR_B)",
            "$(VAR_A$(VAR_B)",
        ),
        ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
        (
            "value is a reference x 2",
            "%%$(VAR_REF)--$(VAR_REF)%%",
            "%%$(VAR_A)--$(VAR_A)%%",
        ),
        ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
        (
            "unterminated expression",
            "foo$(VAR_Awhoops!",
            "foo$(VAR_Awhoops!",
        ),
        (
            "expression without operator",
            "f00__(VAR_A)__",
            "f00__(VAR_A)__",
        ),
        ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
        ("bare operators are ignored", "$VAR_A", "$VAR_A"),
        (
            "undefined vars are passed through",
            "$(VAR_DNE)",
            "$(VAR_DNE)",
        ),
        (
            "multiple (even) operators, var undefined",
            "$$$$$$(BIG_MONEY)",
            "$$$(BIG_MONEY)",
        ),
        (
            "multiple (even) operators, var defined",
            "$$$$$$(VAR_A)",
            "$$$(VAR_A)",
        ),
        (
            "multiple (odd) operators, var undefined",
            "$$$$$$$(GOOD_ODDS)",
            "$$$$(GOOD_ODDS)",
        ),
        (
            "multiple (odd) operators, var defined",
            "$$$$$$$(VAR_A)",
            "$$$A",
        ),
        ("missing open expression", "$VAR_A)", "$VAR_A)"),
        ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
        (
            "trailing incomplete expression not consumed",
            "$(VAR_B)_______$(A",
            "B_______$(A",
        ),
        (
            "trailing incomplete expression, no content, is not consumed",
            "$(VAR_C)_______$(",
            "C_______$(",
        ),
        (
            "operator at end of input string is preserved",
            "$(VAR_A)foobarzab$",
            "Afoobarzab$",
        ),
        (
            "shell escaped incomplete expr",
            "foo-\\$(VAR_A",
            "foo-\\$(VAR_A",
        ),
        ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
        (
            "lots of $( in beginning",
            "$($($($($--foo$(",
            "$($($($($--foo$(",
        ),
        ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
        (
            "escaped operators in variable names are not escaped",
            "$(foo$$var)",
            "$(foo$$var)",
        ),
        ("newline not expanded", "\n", "\n"),
    ];

    /// `TestMapping`: one context.
    #[test]
    fn mapping() {
        let context = vars(&[
            ("VAR_A", "A"),
            ("VAR_B", "B"),
            ("VAR_C", "C"),
            ("VAR_REF", "$(VAR_A)"),
            ("VAR_EMPTY", ""),
        ]);
        for (name, input, want) in CASES {
            assert_eq!(expand(input, &[&context]), *want, "{name}: {input:?}");
        }
    }

    /// `TestMappingDual`: the variables split over two contexts.
    #[test]
    fn mapping_dual() {
        let first = vars(&[("VAR_A", "A"), ("VAR_EMPTY", "")]);
        let second = vars(&[("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)")]);
        for (name, input, want) in CASES {
            assert_eq!(
                expand(input, &[&first, &second]),
                *want,
                "{name}: {input:?}"
            );
        }
    }

    #[test]
    fn first_context_wins_and_text_beyond_ascii_is_kept() {
        let first = vars(&[("X", "1")]);
        let second = vars(&[("X", "2"), ("Ü", "ü")]);
        assert_eq!(expand("$(X)", &[&first, &second]), "1");
        assert_eq!(expand("$é $(Ü)ß$", &[&first, &second]), "$é üß$");
    }

    /// `ExpandContainerVolumeMounts` and `makeMounts`.
    #[test]
    fn sub_path_expr() {
        let env = vars(&[
            ("POD", "web-1"),
            ("EMPTY", ""),
            ("UP", ".."),
            ("ABS", "/etc"),
        ]);
        let cases: &[(&str, Result<&str, SubPathError>)] = &[
            ("logs/$(POD)", Ok("logs/web-1")),
            ("$(POD)", Ok("web-1")),
            ("$$(POD)", Ok("$(POD)")),
            ("plain", Ok("plain")),
            ("a..b/$(POD)", Ok("a..b/web-1")),
            (
                "$(NOPE)/$(EMPTY)",
                Err(SubPathError::Missing(vec!["EMPTY".into(), "NOPE".into()])),
            ),
            ("$(UP)/x", Err(SubPathError::Backsteps("../x".into()))),
            ("x/$(UP)", Err(SubPathError::Backsteps("x/..".into()))),
            ("$(ABS)", Err(SubPathError::Absolute("/etc".into()))),
        ];
        for (expr, want) in cases {
            assert_eq!(
                expand_sub_path(expr, &env),
                want.clone().map(str::to_string),
                "{expr}"
            );
        }
        assert_eq!(
            SubPathError::Missing(vec!["A".into(), "B".into()]).to_string(),
            "missing value for A, B"
        );
    }
}

//! Escaping for systemd unit files and Quadlet `.container` files: pure string functions.
//!
//! Every value from a spec that lands in a unit goes through one of these, chosen by where it
//! lands. The rules are systemd's own (systemd.syntax(7), systemd.service(5), read from
//! `extract_first_word()` and `config_parse_exec()` in systemd's sources) and Quadlet's (read
//! from podman's `pkg/systemd/parser` and `pkg/systemd/quadlet`):
//!
//! * systemd splits `ExecStart=` into words with `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`: inside
//!   double quotes only `"` and `\` are special, and `\` starts a C escape (`\n`, `\t`, `\xNN`,
//!   `\"`, `\\` …). A bare `;` word separates two commands. Each word then has `%` specifiers
//!   expanded (`%%` is a literal `%`), and at exec time `$NAME`/`${NAME}` are expanded (`$$` is a
//!   literal `$`). So [`exec_word`] double-quotes every value, C-escapes `"`, `\` and every
//!   control character, and doubles `%` and `$`. The result never holds a raw newline, so it can
//!   never start a second unit line, and it is always one quoted word, so never a `;` separator.
//! * Quadlet reads `Exec=`, `PodmanArgs=`, `Environment=` and `Label=` with the same splitter
//!   (`SplitRelax|SplitUnquote|SplitCUnescape`), but it does not touch `%` or `$`: it re-joins the
//!   words into the generated service's `ExecStart=` (quoting only words with spaces, quotes,
//!   backslashes or control characters), where systemd then expands `%` and `$`. So a Quadlet
//!   word is escaped exactly like an `ExecStart=` word ([`quadlet_word`]), with three values
//!   refused because Quadlet's re-quoting cannot carry them: the empty word (written as
//!   nothing), a lone `;` (written bare, so systemd reads a command separator) and U+0080
//!   (written as the byte `\x80`, which is not UTF-8).
//! * `Environment=` assignments are split like `ExecStart=` words and have `%` expanded but no
//!   `$` expansion ([`environment_assignment`]).

use std::fmt::Write as _;

/// Why a value cannot be written into a unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// No argv element, environment value or path can hold a NUL byte.
    #[error("contains a NUL character, which no command-line argument can hold")]
    Nul,
    #[error("is empty, and Quadlet drops empty arguments from the command it generates")]
    QuadletEmpty,
    #[error(
        "is a lone `;`, which Quadlet writes unquoted so that systemd would read it as a command separator"
    )]
    QuadletSemicolon,
    #[error("contains U+0080, which Quadlet re-escapes as the invalid byte \\x80")]
    QuadletU0080,
}

/// One `ExecStart=` word: double-quoted, C-escaped, with `%` and `$` doubled, so that systemd
/// hands the process exactly `word` as one argv element with nothing expanded.
pub fn exec_word(word: &str) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\0' => return Err(EscapeError::Nul),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            _ => push_c_escaped(&mut out, c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A whole command line of [`exec_word`]s joined by spaces.
pub fn exec_line<S: AsRef<str>>(argv: &[S]) -> Result<String, EscapeError> {
    let words: Result<Vec<String>, EscapeError> =
        argv.iter().map(|w| exec_word(w.as_ref())).collect();
    Ok(words?.join(" "))
}

/// One word of a Quadlet `Exec=` or `PodmanArgs=` line (see the module docs for the refusals).
pub fn quadlet_word(word: &str) -> Result<String, EscapeError> {
    if word.is_empty() {
        return Err(EscapeError::QuadletEmpty);
    }
    if word == ";" {
        return Err(EscapeError::QuadletSemicolon);
    }
    quadlet_safe_chars(word)?;
    exec_word(word)
}

/// A Quadlet `Environment=` or `Label=` assignment: one quoted `NAME=VALUE` token. Quadlet cuts
/// it at the first `=`, so `name` must not hold one (validation guarantees that for env names
/// and label keys; render checks it again).
pub fn quadlet_key_value(name: &str, value: &str) -> Result<String, EscapeError> {
    quadlet_safe_chars(name)?;
    quadlet_safe_chars(value)?;
    exec_word(&format!("{name}={value}"))
}

/// A systemd `Environment=` assignment: `"NAME=VALUE"` quoted and C-escaped, with `%` doubled;
/// `$` is left alone because systemd does not expand variables in `Environment=`.
pub fn environment_assignment(name: &str, value: &str) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(name.len() + value.len() + 3);
    out.push('"');
    for c in name
        .chars()
        .chain(std::iter::once('='))
        .chain(value.chars())
    {
        match c {
            '\0' => return Err(EscapeError::Nul),
            '%' => out.push_str("%%"),
            _ => push_c_escaped(&mut out, c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A value for a unit setting that systemd takes verbatim apart from specifiers (such as
/// `Description=`): `%` doubled, and control characters (which could end the line) shown as
/// `\xNN` text instead.
pub fn unit_value_plain(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' => out.push_str("%%"),
            c if c.is_control() => push_hex(&mut out, c),
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// Text for a `#` comment line: control characters shown as `\xNN`, so it stays one line.
pub fn comment_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() {
            push_hex(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A name part that is safe in a unit file name, a Quadlet file name and a podman container
/// name. DaemonSet and container names are DNS-1123 labels (validated upstream) and pass
/// through unchanged; anything else becomes `_XX` per byte. `_` never occurs in a DNS label,
/// so the mapping is injective: two different names never share a unit.
pub fn unit_name_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            out.push(b as char);
        } else {
            let _ = write!(out, "_{b:02x}");
        }
    }
    out
}

fn quadlet_safe_chars(value: &str) -> Result<(), EscapeError> {
    if value.contains('\0') {
        return Err(EscapeError::Nul);
    }
    if value.contains('\u{80}') {
        return Err(EscapeError::QuadletU0080);
    }
    Ok(())
}

/// Inside double quotes: `"` and `\` escaped, control characters as C escapes; all else as is.
fn push_c_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        // ASCII controls as \xNN (systemd reads them as that byte), C1 controls as \u00NN (read
        // as that character, so they stay visible); other characters as they are, in UTF-8.
        c if c.is_control() => push_hex(out, c),
        c => out.push(c),
    }
}

fn push_hex(out: &mut String, c: char) {
    if c.is_ascii() {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{:04x}", c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_word_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("two words", r#""two words""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"back\slash", r#""back\\slash""#),
            ("50%", r#""50%%""#),
            ("%n", r#""%%n""#),
            ("$HOME", r#""$$HOME""#),
            ("${HOME}", r#""$${HOME}""#),
            (";", r#"";""#),
            ("a\nb", r#""a\nb""#),
            ("tab\there", r#""tab\there""#),
            ("cr\r", r#""cr\r""#),
            ("bell\u{7}", r#""bell\x07""#),
            ("del\u{7f}", r#""del\x7f""#),
            ("it's", r#""it's""#),
            ("ünï ☃", r#""ünï ☃""#),
            ("nel\u{85}", r#""nel\u0085""#),
        ];
        for (input, want) in cases {
            assert_eq!(exec_word(input).unwrap(), *want, "input {input:?}");
        }
        assert_eq!(exec_word("a\0b"), Err(EscapeError::Nul));
    }

    #[test]
    fn exec_line_joins_quoted_words() {
        assert_eq!(
            exec_line(&["a b", ";", "$x"]).unwrap(),
            r#""a b" ";" "$$x""#
        );
    }

    #[test]
    fn quadlet_refusals() {
        assert_eq!(quadlet_word(""), Err(EscapeError::QuadletEmpty));
        assert_eq!(quadlet_word(";"), Err(EscapeError::QuadletSemicolon));
        assert_eq!(quadlet_word("a\u{80}"), Err(EscapeError::QuadletU0080));
        assert_eq!(quadlet_word("; "), Ok(r#""; ""#.to_string()));
        assert_eq!(
            quadlet_key_value("A", "\u{80}"),
            Err(EscapeError::QuadletU0080)
        );
        assert_eq!(
            quadlet_key_value("A", "1 $x"),
            Ok(r#""A=1 $$x""#.to_string())
        );
    }

    #[test]
    fn environment_assignment_keeps_dollar() {
        assert_eq!(
            environment_assignment("PODMAN_SYSTEMD_UNIT", "a $b %n\n").unwrap(),
            r#""PODMAN_SYSTEMD_UNIT=a $b %%n\n""#
        );
    }

    #[test]
    fn plain_values_and_comments_stay_on_one_line() {
        assert_eq!(unit_value_plain("50% of\nit "), r"50%% of\x0ait");
        assert_eq!(comment_text("a\r\nb\u{85}"), r"a\x0d\x0ab\u0085");
    }

    #[test]
    fn unit_name_component_is_injective_and_safe() {
        assert_eq!(unit_name_component("web-1"), "web-1");
        assert_eq!(unit_name_component("Web_1/x"), "_57eb_5f1_2fx");
        assert_ne!(unit_name_component("a_2d"), unit_name_component("a-"));
    }
}

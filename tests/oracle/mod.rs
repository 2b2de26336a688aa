//! Test oracle: how systemd and Quadlet read the units dsctl writes, ported from their sources so
//! that tests can parse a rendered unit back into the argv a process would receive.
//!
//! * systemd (src/basic/extract-word.c `extract_first_word`, src/basic/escape.c
//!   `cunescape_one`, src/core/load-fragment.c `config_parse_exec` and `config_parse_environ`,
//!   src/shared/conf-parser.c line handling, src/basic/env-util.c `replace_env_argv`).
//! * Quadlet (podman pkg/systemd/parser: `UnitFile.Parse`, `Lookup*`, `splitString`,
//!   `escapeWords`; pkg/systemd/quadlet `ConvertContainer` for the keys dsctl writes).
//!
//! Bytes, not `str`: systemd's `\xNN` escapes produce raw bytes, and the oracle must be able to
//! show a non-UTF-8 result instead of hiding it.
#![allow(dead_code)]

use std::collections::BTreeMap;

pub const WHITESPACE: &[u8] = b" \t\n\r";

pub const RELAX: u32 = 1 << 0;
pub const CUNESCAPE: u32 = 1 << 1;
pub const UNESCAPE_RELAX: u32 = 1 << 2;
pub const UNESCAPE_SEPARATORS: u32 = 1 << 3;
pub const UNQUOTE: u32 = 1 << 5;
pub const RETAIN_ESCAPE: u32 = 1 << 7;

/// Which implementation: systemd writes `\xNN` as a raw byte, Quadlet's Go port writes it as
/// the rune U+00NN (UTF-8 encoded).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Systemd,
    QuadletGo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Einval;

fn unhex(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

fn unoct(c: u8) -> Option<u32> {
    (c as char).to_digit(8)
}

/// `cunescape_one(p, SIZE_MAX, &u, &eight_bit, accept_nul=false)`: (bytes consumed, code, eight_bit).
pub fn cunescape_one(p: &[u8]) -> Option<(usize, u32, bool)> {
    let c = *p.first()?;
    Some(match c {
        b'a' => (1, 7, false),
        b'b' => (1, 8, false),
        b'f' => (1, 12, false),
        b'n' => (1, 10, false),
        b'r' => (1, 13, false),
        b't' => (1, 9, false),
        b'v' => (1, 11, false),
        b'\\' => (1, b'\\' as u32, false),
        b'"' => (1, b'"' as u32, false),
        b'\'' => (1, b'\'' as u32, false),
        b's' => (1, b' ' as u32, false),
        b'x' => {
            let a = unhex(*p.get(1)?)?;
            let b = unhex(*p.get(2)?)?;
            if a == 0 && b == 0 {
                return None;
            }
            (3, (a << 4) | b, true)
        }
        b'u' => {
            let mut v = 0u32;
            for i in 1..5 {
                v = (v << 4) | unhex(*p.get(i)?)?;
            }
            if v == 0 {
                return None;
            }
            (5, v, false)
        }
        b'U' => {
            let mut v = 0u32;
            for i in 1..9 {
                v = (v << 4) | unhex(*p.get(i)?)?;
            }
            if v == 0 || v > 0x10ffff {
                return None;
            }
            (9, v, false)
        }
        b'0'..=b'7' => {
            let a = unoct(*p.first()?)?;
            let b = unoct(*p.get(1)?)?;
            let c = unoct(*p.get(2)?)?;
            let m = (a << 6) | (b << 3) | c;
            if m == 0 || m > 255 {
                return None;
            }
            (3, m, true)
        }
        _ => return None,
    })
}

fn push_code(s: &mut Vec<u8>, code: u32, eight_bit: bool, dialect: Dialect) {
    if eight_bit && dialect == Dialect::Systemd {
        s.push(code as u8);
    } else {
        // utf8_encode_unichar / Go's WriteRune (invalid code points become U+FFFD in Go).
        let ch = char::from_u32(code).unwrap_or('\u{fffd}');
        let mut buf = [0u8; 4];
        s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}

/// `extract_first_word()`: the next word of `input[*pos..]` and the new position (None at the
/// end, `*pos` then past the input), or Einval for bad quoting or escapes.
pub fn extract_first_word(
    input: &[u8],
    pos: &mut Option<usize>,
    separators: &[u8],
    flags: u32,
    dialect: Dialect,
) -> Result<Option<Vec<u8>>, Einval> {
    let Some(mut p) = *pos else { return Ok(None) };
    let at = |i: usize| input.get(i).copied().unwrap_or(0);
    let is_sep = |c: u8| c != 0 && separators.contains(&c);

    // Skip leading separators.
    loop {
        let c = at(p);
        if c == 0 {
            *pos = None;
            return Ok(None);
        }
        if !is_sep(c) {
            break;
        }
        p += 1;
    }

    let mut s: Vec<u8> = Vec::new();
    let mut quote: u8 = 0;
    let mut backslash = false;
    loop {
        let c = at(p);
        if backslash {
            if c == 0 {
                if flags & UNESCAPE_RELAX != 0 && (quote == 0 || flags & RELAX != 0) {
                    s.push(b'\\');
                    *pos = None;
                    return Ok(Some(s));
                }
                if flags & RELAX != 0 {
                    *pos = None;
                    return Ok(Some(s));
                }
                return Err(Einval);
            }
            if flags & (CUNESCAPE | UNESCAPE_SEPARATORS) != 0 {
                let decoded = if flags & CUNESCAPE != 0 {
                    cunescape_one(&input[p..])
                } else {
                    None
                };
                if let Some((r, code, eight_bit)) = decoded {
                    p += r - 1;
                    push_code(&mut s, code, eight_bit, dialect);
                } else if flags & UNESCAPE_SEPARATORS != 0 && (is_sep(c) || c == b'\\') {
                    s.push(c);
                } else if flags & UNESCAPE_RELAX != 0 {
                    s.push(b'\\');
                    s.push(c);
                } else {
                    return Err(Einval);
                }
            } else {
                s.push(c);
            }
            backslash = false;
            p += 1;
        } else if quote != 0 {
            loop {
                let c = at(p);
                if c == 0 {
                    if flags & RELAX != 0 {
                        *pos = None;
                        return Ok(Some(s));
                    }
                    return Err(Einval);
                } else if c == quote {
                    quote = 0;
                    p += 1;
                    break;
                } else if c == b'\\' && flags & RETAIN_ESCAPE == 0 {
                    backslash = true;
                    p += 1;
                    break;
                }
                s.push(c);
                p += 1;
            }
        } else {
            loop {
                let c = at(p);
                if c == 0 {
                    *pos = None;
                    return Ok(Some(s));
                } else if (c == b'\'' || c == b'"') && flags & UNQUOTE != 0 {
                    quote = c;
                    p += 1;
                    break;
                } else if c == b'\\' && flags & RETAIN_ESCAPE == 0 {
                    backslash = true;
                    p += 1;
                    break;
                } else if is_sep(c) {
                    while is_sep(at(p)) {
                        p += 1;
                    }
                    *pos = if at(p) == 0 { None } else { Some(p) };
                    return Ok(Some(s));
                }
                s.push(c);
                p += 1;
            }
        }
    }
}

/// Every word of `input`, as `strv_split_full()` / Go's `splitString()`.
pub fn split_words(input: &[u8], flags: u32, dialect: Dialect) -> Result<Vec<Vec<u8>>, Einval> {
    let mut pos = Some(0);
    let mut words = Vec::new();
    while let Some(w) = extract_first_word(input, &mut pos, WHITESPACE, flags, dialect)? {
        words.push(w);
    }
    Ok(words)
}

/// A problem systemd would log for a line: each is a bug in what dsctl wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// `extract_first_word_and_warn()`: a retry with UNESCAPE_RELAX is a warning.
fn extract_and_warn(
    input: &[u8],
    pos: &mut Option<usize>,
    flags: u32,
) -> Result<Option<Vec<u8>>, Warning> {
    let save = *pos;
    match extract_first_word(input, pos, WHITESPACE, flags, Dialect::Systemd) {
        Ok(w) => Ok(w),
        Err(Einval) => {
            *pos = save;
            match extract_first_word(
                input,
                pos,
                WHITESPACE,
                flags | UNESCAPE_RELAX,
                Dialect::Systemd,
            ) {
                Ok(_) => Err(Warning(format!(
                    "Ignoring unknown escape sequences in {:?}",
                    String::from_utf8_lossy(input)
                ))),
                Err(_) => Err(Warning(format!(
                    "Unbalanced quoting in {:?}",
                    String::from_utf8_lossy(input)
                ))),
            }
        }
    }
}

/// The specifiers dsctl's units use on purpose, resolved as systemd would for `unit`.
pub struct Specifiers {
    pub unit: String,
}

impl Specifiers {
    /// `unit_full_printf()`: `%%` → `%`, known specifiers resolved, anything else an error.
    pub fn resolve(&self, word: &[u8]) -> Result<Vec<u8>, Warning> {
        let mut out = Vec::with_capacity(word.len());
        let mut i = 0;
        while i < word.len() {
            if word[i] == b'%' {
                let Some(&spec) = word.get(i + 1) else {
                    return Err(Warning("a lone % at the end of a word".into()));
                };
                match spec {
                    b'%' => out.push(b'%'),
                    b't' => out.extend_from_slice(b"/run"),
                    b'n' => out.extend_from_slice(self.unit.as_bytes()),
                    b'N' => {
                        out.extend_from_slice(self.unit.trim_end_matches(".service").as_bytes())
                    }
                    other => {
                        return Err(Warning(format!("unresolved specifier %{}", other as char)));
                    }
                }
                i += 2;
            } else {
                out.push(word[i]);
                i += 1;
            }
        }
        Ok(out)
    }
}

/// One command of an `ExecStart=`-like line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub ignore_failure: bool,
    pub no_env_expand: bool,
}

/// `config_parse_exec()`: the commands of one `ExecStart=` value (`;` separates commands).
pub fn parse_exec(rvalue: &[u8], spec: &Specifiers) -> Result<Vec<ExecCommand>, Warning> {
    let mut commands = Vec::new();
    let mut pos = Some(0);
    loop {
        let Some(firstword) = extract_and_warn(rvalue, &mut pos, UNQUOTE | CUNESCAPE)? else {
            return Ok(commands);
        };
        if firstword == b";" {
            continue;
        }
        let mut f = &firstword[..];
        let (mut ignore, mut separate_argv0, mut no_env) = (false, false, false);
        loop {
            match f.first() {
                Some(b'-') if !ignore => ignore = true,
                Some(b'@') if !separate_argv0 => separate_argv0 = true,
                Some(b':') if !no_env => no_env = true,
                Some(b'+' | b'!' | b'|') => {}
                _ => break,
            }
            f = &f[1..];
        }
        let path = spec.resolve(f)?;
        if path.is_empty() || !path.starts_with(b"/") {
            return Err(Warning(format!(
                "not an absolute path: {:?}",
                String::from_utf8_lossy(&path)
            )));
        }
        let mut argv = Vec::new();
        if !separate_argv0 {
            argv.push(path.clone());
        }
        let mut semicolon = false;
        while let Some(p) = pos {
            let rest = &rvalue[p..];
            if rest.first() == Some(&b';') && rest.get(1).is_none_or(|c| WHITESPACE.contains(c)) {
                let mut q = p + 1;
                while rvalue.get(q).is_some_and(|c| WHITESPACE.contains(c)) {
                    q += 1;
                }
                pos = if q < rvalue.len() { Some(q) } else { None };
                semicolon = true;
                break;
            }
            if rest.starts_with(b"\\;") && rest.get(2).is_none_or(|c| WHITESPACE.contains(c)) {
                let mut q = p + 2;
                while rvalue.get(q).is_some_and(|c| WHITESPACE.contains(c)) {
                    q += 1;
                }
                pos = if q < rvalue.len() { Some(q) } else { None };
                argv.push(b";".to_vec());
                continue;
            }
            let Some(word) = extract_and_warn(rvalue, &mut pos, UNQUOTE | CUNESCAPE)? else {
                break;
            };
            argv.push(spec.resolve(&word)?);
        }
        commands.push(ExecCommand {
            path,
            argv,
            ignore_failure: ignore,
            no_env_expand: no_env,
        });
        if !semicolon {
            return Ok(commands);
        }
    }
}

/// One `NAME=value` of an `Environment=` line.
pub type EnvPair = (Vec<u8>, Vec<u8>);

/// `config_parse_environ()`: the assignments of one `Environment=` value.
pub fn parse_environment(rvalue: &[u8], spec: &Specifiers) -> Result<Vec<EnvPair>, Warning> {
    let mut out = Vec::new();
    let mut pos = Some(0);
    while let Some(word) = extract_and_warn(rvalue, &mut pos, CUNESCAPE | UNQUOTE)? {
        let word = spec.resolve(&word)?;
        let eq = word
            .iter()
            .position(|&c| c == b'=')
            .ok_or_else(|| Warning("not an assignment".into()))?;
        out.push((word[..eq].to_vec(), word[eq + 1..].to_vec()));
    }
    Ok(out)
}

/// `replace_env_argv()` (without braceless `$NAME` inside words, which exec lines don't get).
pub fn replace_env_argv(argv: &[Vec<u8>], env: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for word in argv {
        if word.first() == Some(&b'$') && !matches!(word.get(1), Some(b'{' | b'$')) {
            if let Some(value) = env.get(&word[1..]) {
                // Split like strv_split_full(WHITESPACE, RELAX|UNQUOTE).
                out.extend(
                    split_words(value, RELAX | UNQUOTE, Dialect::Systemd).unwrap_or_default(),
                );
            }
            continue;
        }
        out.push(replace_env(word, env));
    }
    out
}

fn replace_env(word: &[u8], env: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < word.len() {
        if word[i] == b'$' {
            match word.get(i + 1) {
                Some(b'$') => {
                    out.push(b'$');
                    i += 2;
                    continue;
                }
                Some(b'{') => {
                    if let Some(end) = word[i + 2..].iter().position(|&c| c == b'}') {
                        let name = &word[i + 2..i + 2 + end];
                        out.extend_from_slice(env.get(name).map(Vec::as_slice).unwrap_or(b""));
                        i += 2 + end + 1;
                        continue;
                    }
                    // No closing brace: systemd keeps the rest as it is.
                    out.extend_from_slice(&word[i..]);
                    return out;
                }
                _ => {}
            }
        }
        out.push(word[i]);
        i += 1;
    }
    out
}

/// One `key=value` of a unit file, with the (1-based) line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: Vec<u8>,
    pub line: usize,
}

/// systemd's config file reader (conf-parser.c): lines end at `\n`, `\r` or NUL; a line whose
/// first non-blank character is `#` or `;` is a comment (even inside a continuation); a line
/// ending in an unescaped backslash continues on the next, the backslash becoming a space.
pub fn parse_unit_file(text: &[u8]) -> Result<Vec<Assignment>, Warning> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut continuation: Option<(Vec<u8>, usize)> = None;
    for (i, raw) in text
        .split(|&c| c == b'\n' || c == b'\r' || c == 0)
        .enumerate()
    {
        let line_no = i + 1;
        if let Some(&first) = trim(raw).first()
            && (first == b'#' || first == b';')
        {
            continue;
        }
        let (mut buf, start) = continuation.take().unwrap_or((Vec::new(), line_no));
        buf.extend_from_slice(raw);
        let mut escaped = false;
        for &c in &buf {
            escaped = if escaped { false } else { c == b'\\' };
        }
        if escaped {
            *buf.last_mut().expect("ends in a backslash") = b' ';
            continuation = Some((buf, start));
            continue;
        }
        let l = trim(&buf);
        if l.is_empty() {
            continue;
        }
        if l[0] == b'[' {
            if l.last() != Some(&b']') {
                return Err(Warning(format!("line {start}: bad section header")));
            }
            section = String::from_utf8_lossy(&l[1..l.len() - 1]).into_owned();
            continue;
        }
        let Some(eq) = l.iter().position(|&c| c == b'=') else {
            return Err(Warning(format!(
                "line {start}: missing '=': {:?}",
                String::from_utf8_lossy(l)
            )));
        };
        if section.is_empty() {
            return Err(Warning(format!(
                "line {start}: assignment outside of a section"
            )));
        }
        if std::str::from_utf8(l).is_err() {
            return Err(Warning(format!("line {start}: not UTF-8 clean")));
        }
        out.push(Assignment {
            section: section.clone(),
            key: String::from_utf8_lossy(trim(&l[..eq])).into_owned(),
            value: trim(&l[eq + 1..]).to_vec(),
            line: start,
        });
    }
    if continuation.is_some() {
        return Err(Warning("file ends in a continuation line".into()));
    }
    Ok(out)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !WHITESPACE.contains(c))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !WHITESPACE.contains(c))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// What the service manager would run for a unit: each exec key's commands, with specifiers
/// and `$` expansion applied (using the unit's own `Environment=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedService {
    pub assignments: Vec<Assignment>,
    pub environment: BTreeMap<Vec<u8>, Vec<u8>>,
    pub exec: BTreeMap<String, Vec<ExecCommand>>,
}

pub const EXEC_KEYS: [&str; 5] = [
    "ExecStartPre",
    "ExecStart",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
];

pub fn parse_service(text: &[u8], unit_name: &str) -> Result<ParsedService, Warning> {
    let spec = Specifiers {
        unit: unit_name.to_string(),
    };
    let assignments = parse_unit_file(text)?;
    let mut parsed = ParsedService::default();
    for a in &assignments {
        if a.section == "Service" && a.key == "Environment" {
            for (k, v) in parse_environment(&a.value, &spec)? {
                parsed.environment.insert(k, v);
            }
        }
    }
    for a in &assignments {
        if a.section == "Service" && EXEC_KEYS.contains(&a.key.as_str()) {
            let mut commands = parse_exec(&a.value, &spec)?;
            for cmd in &mut commands {
                if !cmd.no_env_expand {
                    cmd.argv = replace_env_argv(&cmd.argv, &parsed.environment);
                }
            }
            parsed
                .exec
                .entry(a.key.clone())
                .or_default()
                .extend(commands);
        }
    }
    parsed.assignments = assignments;
    Ok(parsed)
}

// ---- Quadlet ----

/// A Quadlet unit file as podman's parser reads it: groups of (key, raw value) lines.
#[derive(Debug, Clone, Default)]
pub struct QuadletFile {
    pub groups: Vec<(String, Vec<(String, String)>)>,
}

impl QuadletFile {
    /// `UnitFile.Parse()`: lines trimmed; a line ending in `\` continues (no escape check);
    /// comment lines inside a continuation are skipped.
    pub fn parse(data: &str) -> Result<QuadletFile, String> {
        let mut file = QuadletFile::default();
        let data = data.strip_suffix('\n').unwrap_or(data);
        let lines: Vec<&str> = data.split('\n').collect();
        let mut remaining = String::new();
        for (n, line) in lines.iter().enumerate() {
            let mut line = line.trim().to_string();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                if !remaining.is_empty() {
                    continue;
                }
            } else {
                if let Some(stripped) = line.strip_suffix('\\')
                    && n != lines.len() - 1
                {
                    remaining.push_str(stripped);
                    continue;
                }
                if line.ends_with('\\') {
                    line.pop();
                }
                if !remaining.is_empty() {
                    line = std::mem::take(&mut remaining) + &line;
                }
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                let end = line.find(']').ok_or("bad group")?;
                if !line[end + 1..].chars().all(|c| c == ' ' || c == '\t') {
                    return Err(format!("bad group line {line:?}"));
                }
                file.groups.push((line[1..end].to_string(), Vec::new()));
                continue;
            }
            let eq = line
                .find('=')
                .filter(|&e| e > 0)
                .ok_or_else(|| format!("line {}: not a key-value pair: {line:?}", n + 1))?;
            let key = line[..eq].trim_end().to_string();
            let value = line[eq + 1..].trim_start().to_string();
            let group = file
                .groups
                .last_mut()
                .ok_or("key file does not start with a group")?;
            group.1.push((key, value));
        }
        Ok(file)
    }

    pub fn keys(&self, group: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.0 == group)
            .flat_map(|g| g.1.iter().map(|kv| kv.0.clone()))
            .collect()
    }

    fn all_raw(&self, group: &str, key: &str) -> Vec<String> {
        let mut values = Vec::new();
        for (_, lines) in self.groups.iter().filter(|g| g.0 == group) {
            for (k, v) in lines {
                if k == key {
                    if v.is_empty() {
                        values.clear();
                    } else {
                        values.push(v.clone());
                    }
                }
            }
        }
        values
    }

    pub fn lookup_all(&self, group: &str, key: &str) -> Vec<String> {
        self.all_raw(group, key)
    }

    /// `Lookup()`: the last value, right-trimmed, one pair of surrounding `"` removed.
    pub fn lookup(&self, group: &str, key: &str) -> Option<String> {
        let last = self
            .groups
            .iter()
            .filter(|g| g.0 == group)
            .flat_map(|g| g.1.iter())
            .rfind(|(k, _)| k == key)?;
        let v = last.1.trim_end();
        Some(if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            v[1..v.len() - 1].to_string()
        } else {
            v.to_string()
        })
    }

    fn go_split(value: &str) -> Result<Vec<String>, Einval> {
        split_words(
            value.as_bytes(),
            RELAX | UNQUOTE | CUNESCAPE,
            Dialect::QuadletGo,
        )
        .map(|ws| {
            ws.into_iter()
                .map(|w| String::from_utf8(w).expect("Go strings from runes"))
                .collect()
        })
    }

    /// `LookupAllArgs()`: a line that fails to split is dropped silently (so a test sees it).
    pub fn lookup_all_args(&self, group: &str, key: &str) -> Vec<String> {
        self.all_raw(group, key)
            .iter()
            .filter_map(|v| Self::go_split(v).ok())
            .flatten()
            .collect()
    }

    pub fn lookup_last_args(&self, group: &str, key: &str) -> Option<Result<Vec<String>, Einval>> {
        let last = self
            .groups
            .iter()
            .filter(|g| g.0 == group)
            .flat_map(|g| g.1.iter())
            .rfind(|(k, _)| k == key)?;
        Some(Self::go_split(&last.1))
    }

    /// `LookupAllKeyVal()`: a map, so sorted by key and the last assignment wins.
    pub fn lookup_all_key_val(&self, group: &str, key: &str) -> BTreeMap<String, Option<String>> {
        let mut res = BTreeMap::new();
        for v in self.all_raw(group, key) {
            if let Ok(assigns) = Self::go_split(&v) {
                for a in assigns {
                    match a.split_once('=') {
                        Some((k, v)) => res.insert(k.to_string(), Some(v.to_string())),
                        None => res.insert(a, None),
                    };
                }
            }
        }
        res
    }
}

/// Quadlet's `escapeWords()`: a word is quoted only if it holds a space, control character,
/// quote or backslash (characters above U+0080 are never escaped).
pub fn quadlet_escape_words(words: &[String]) -> String {
    let need = |c: char| {
        if c as u32 > 128 {
            return false;
        }
        c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\'
    };
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.chars().any(need) {
            out.push('"');
            for c in word.chars() {
                if need(c) {
                    match c {
                        '\u{7}' => out.push_str("\\a"),
                        '\u{8}' => out.push_str("\\b"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{b}' => out.push_str("\\v"),
                        '\u{c}' => out.push_str("\\f"),
                        '\\' => out.push_str("\\\\"),
                        ' ' => out.push(' '),
                        '"' => out.push_str("\\\""),
                        '\'' => out.push('\''),
                        c => out.push_str(&format!("\\x{:02x}", c as u32)),
                    }
                } else {
                    out.push(c);
                }
            }
            out.push('"');
        } else {
            out.push_str(word);
        }
    }
    out
}

/// The `[Container]` keys dsctl writes: present in Quadlet 5.0 (an unknown key makes Quadlet
/// refuse the whole file).
pub const QUADLET_KEYS: [&str; 15] = [
    "Image",
    "ContainerName",
    "Pod",
    "Exec",
    "Environment",
    "Label",
    "PublishPort",
    "Network",
    "Volume",
    "PodmanArgs",
    "AddCapability",
    "DropCapability",
    "ReadOnly",
    "NoNewPrivileges",
    "SeccompProfile",
];

/// Quadlet's `ConvertContainer()`, cut down to the keys dsctl writes: the generated service
/// (its `[Service]` lines as Quadlet writes them), ready for [`parse_service`].
pub fn quadlet_generate(container_file: &str, file_name: &str) -> Result<String, String> {
    let unit = QuadletFile::parse(container_file)?;
    for key in unit.keys("Container") {
        if !QUADLET_KEYS.contains(&key.as_str()) {
            return Err(format!("unsupported key '{key}' in group 'Container'"));
        }
    }
    let image = unit
        .lookup("Container", "Image")
        .filter(|i| !i.is_empty())
        .ok_or("no Image key specified")?;
    if image.ends_with(".image") || image.ends_with(".build") {
        return Err(format!("requested Quadlet image {image} was not found"));
    }
    let name = unit
        .lookup("Container", "ContainerName")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "systemd-%N".into());
    let mut podman: Vec<String> = [
        "/usr/bin/podman",
        "run",
        "--name",
        &name,
        "--replace",
        "--rm",
        "--cgroups=split",
    ]
    .map(String::from)
    .to_vec();
    for network in unit.lookup_all("Container", "Network") {
        podman.extend(["--network".to_string(), network]);
    }
    if let Some(pod) = unit.lookup("Container", "Pod") {
        let stem = pod.strip_suffix(".pod").ok_or("Pod= is not a .pod unit")?;
        podman.extend(["--pod-id-file".to_string(), format!("%t/{stem}-pod.pod-id")]);
    }
    // Type=oneshot in [Service]: the container runs in the foreground, without sd-notify.
    let oneshot = unit.lookup("Service", "Type").as_deref() == Some("oneshot");
    if !oneshot {
        podman.extend(["--sdnotify=conmon".to_string(), "-d".to_string()]);
    }
    for volume in unit.lookup_all("Container", "Volume") {
        let parts: Vec<&str> = volume.splitn(3, ':').collect();
        let spec = match parts.as_slice() {
            [dest] => dest.to_string(),
            [src, dest] => format!("{src}:{dest}"),
            [src, dest, opts] => format!("{src}:{dest}:{opts}"),
            _ => unreachable!(),
        };
        podman.extend(["-v".to_string(), spec]);
    }
    for port in unit.lookup_all("Container", "PublishPort") {
        podman.extend(["--publish".to_string(), port]);
    }
    // Quadlet's order: drops, adds (lower-cased, whitespace-separated lists), read-only,
    // no-new-privileges, seccomp.
    for (key, flag) in [
        ("DropCapability", "--cap-drop"),
        ("AddCapability", "--cap-add"),
    ] {
        for list in unit.lookup_all("Container", key) {
            for cap in list.split_whitespace() {
                podman.push(format!("{flag}={}", cap.to_lowercase()));
            }
        }
    }
    let yes = |key: &str| {
        unit.lookup("Container", key)
            .is_some_and(|v| matches!(v.as_str(), "1" | "yes" | "true" | "on"))
    };
    if yes("ReadOnly") {
        podman.push("--read-only".into());
    }
    if yes("NoNewPrivileges") {
        podman.push("--security-opt=no-new-privileges".into());
    }
    if let Some(profile) = unit.lookup("Container", "SeccompProfile") {
        podman.extend(["--security-opt".to_string(), format!("seccomp={profile}")]);
    }
    for (key, flag) in [("Environment", "--env"), ("Label", "--label")] {
        for (k, v) in unit.lookup_all_key_val("Container", key) {
            let v = v.ok_or_else(|| format!("{key}={k} has no value"))?;
            podman.extend([flag.to_string(), format!("{k}={v}")]);
        }
    }
    podman.extend(unit.lookup_all_args("Container", "PodmanArgs"));
    podman.push(image);
    if let Some(args) = unit.lookup_last_args("Container", "Exec") {
        podman.extend(args.map_err(|_| "Exec= does not split")?);
    }

    // The generated service: the file's own groups as they were read ([Container] renamed to
    // [X-Container], which systemd ignores but still reads), then Quadlet's [Service] lines.
    let _ = file_name;
    let mut out = String::new();
    for (group, lines) in &unit.groups {
        let group = if group == "Container" {
            "X-Container"
        } else {
            group.as_str()
        };
        out.push_str(&format!("[{group}]\n"));
        for (k, v) in lines {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out.push_str("[Service]\nEnvironment=PODMAN_SYSTEMD_UNIT=%n\nKillMode=mixed\nDelegate=yes\n");
    if !oneshot {
        out.push_str("Type=notify\nNotifyAccess=all\n");
    }
    out.push_str(&format!("ExecStart={}\n", quadlet_escape_words(&podman)));
    Ok(out)
}

// ---- systemd itself ----

/// `systemd-analyze verify` on a unit file: None if systemd-analyze is not installed, else
/// every line it printed apart from the missing podman binary (this machine need not have
/// podman; the fleet tests run the units for real).
pub fn systemd_analyze_verify(
    dir: &std::path::Path,
    file_name: &str,
    content: &str,
) -> Option<Vec<String>> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join("systemd-analyze").is_file()))
        .unwrap_or(false);
    if !found {
        return None;
    }
    let path = dir.join(file_name);
    std::fs::write(&path, content).expect("write unit");
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !l.contains("Command /usr/bin/podman is not executable"))
            .map(String::from)
            .collect(),
    )
}

/// The `[Pod]` keys Quadlet 5.0 accepts (pkg/systemd/quadlet `supportedPodKeys` at v5.0.0).
pub const QUADLET_POD_KEYS: [&str; 7] = [
    "ContainersConfModule",
    "GlobalArgs",
    "Network",
    "PodName",
    "PodmanArgs",
    "PublishPort",
    "Volume",
];

/// Quadlet 5.0's `ConvertPod()`, cut down to the keys dsctl writes: the generated pod service.
/// The file's own `[Service]` lines come first, so its `ExecStartPre=` run before the pod is
/// created and its `ExecStopPost=` before the pod is removed.
pub fn quadlet_generate_pod(pod_file: &str) -> Result<String, String> {
    let unit = QuadletFile::parse(pod_file)?;
    for key in unit.keys("Pod") {
        if !QUADLET_POD_KEYS.contains(&key.as_str()) {
            return Err(format!("unsupported key '{key}' in group 'Pod'"));
        }
    }
    let name = unit
        .lookup("Pod", "PodName")
        .filter(|n| !n.is_empty())
        .ok_or("dsctl always sets PodName=")?;
    let base = |args: &[&str]| {
        let mut v = vec!["/usr/bin/podman".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let mut create = base(&[
        "pod",
        "create",
        "--infra-conmon-pidfile=%t/%N.pid",
        "--pod-id-file=%t/%N.pod-id",
        "--exit-policy=stop",
        "--replace",
    ]);
    for port in unit.lookup_all("Pod", "PublishPort") {
        create.extend(["--publish".to_string(), port]);
    }
    for network in unit.lookup_all("Pod", "Network") {
        create.extend(["--network".to_string(), network]);
    }
    create.push(format!("--name={name}"));
    create.extend(unit.lookup_all_args("Pod", "PodmanArgs"));
    let mut out = String::new();
    for (group, lines) in &unit.groups {
        let group = if group == "Pod" {
            "X-Pod"
        } else {
            group.as_str()
        };
        out.push_str(&format!("[{group}]\n"));
        for (k, v) in lines {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out.push_str("[Unit]\nRequiresMountsFor=%t/containers\n[Service]\nSyslogIdentifier=%N\n");
    out.push_str(&format!(
        "ExecStart={}\n",
        quadlet_escape_words(&base(&["pod", "start", "--pod-id-file=%t/%N.pod-id"]))
    ));
    out.push_str(&format!(
        "ExecStop={}\n",
        quadlet_escape_words(&base(&[
            "pod",
            "stop",
            "--pod-id-file=%t/%N.pod-id",
            "--ignore",
            "--time=10"
        ]))
    ));
    out.push_str(&format!(
        "ExecStopPost={}\n",
        quadlet_escape_words(&base(&[
            "pod",
            "rm",
            "--pod-id-file=%t/%N.pod-id",
            "--ignore",
            "--force"
        ]))
    ));
    out.push_str(&format!("ExecStartPre={}\n", quadlet_escape_words(&create)));
    out.push_str(
        "Environment=PODMAN_SYSTEMD_UNIT=%n\nType=forking\nRestart=on-failure\nPIDFile=%t/%N.pid\n",
    );
    Ok(out)
}

//! Name and value checks exactly as the Kubernetes API server makes them
//! (k8s.io/apimachinery/pkg/util/validation and pkg/api/validate/content).
//!
//! Each check returns the list of Kubernetes' own error texts (empty when valid), so that a
//! message from dsctl reads like the one `kubectl apply` would print. The regular expressions
//! are spelled out by hand: they are small, and this keeps the crate free of a regex engine.

/// The longest DNS-1123 label (RFC 1123), and so the longest DaemonSet or container name.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// The longest DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// The longest label value, and the longest name part of a label key.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// The longest IANA service name (RFC 6335), which is what a named port is.
pub const PORT_NAME_MAX_LENGTH: usize = 15;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const ENV_VAR_NAME_FMT: &str = "[-._a-zA-Z][-._a-zA-Z0-9]*";
const ENV_VAR_NAME_ERR: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";
const HTTP_HEADER_NAME_FMT: &str = "[-A-Za-z0-9]+";
const HTTP_HEADER_NAME_ERR: &str =
    "a valid HTTP header must consist of alphanumeric characters or '-'";

/// `IsDNS1123Label`: container names, volume names, port-free names.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !is_dns1123_label_shape(value) {
        if is_dns1123_subdomain_shape(value) {
            // A valid subdomain but not a label: with the length checked, it must be dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `IsDNS1123Subdomain`: object names, node names, label-key prefixes.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !is_dns1123_subdomain_shape(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsQualifiedName` / `IsLabelKey`: label keys, annotation keys, taint and toleration keys,
/// node-selector keys. An optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters.
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|msg| format!("prefix part {msg}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(LABEL_VALUE_MAX_LENGTH)
        ));
    }
    if !is_label_name_shape(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`, `_`, `.` starting and ending
/// with an alphanumeric.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_label_name_shape(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `IsValidPortName` (an IANA_SVC_NAME): at most 15 of `[-a-z0-9]`, at least one letter, no
/// leading, trailing or doubled hyphen.
pub fn port_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > PORT_NAME_MAX_LENGTH {
        errs.push(max_len_error(PORT_NAME_MAX_LENGTH));
    }
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !value.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if value.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if value.starts_with('-') || value.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// `IsEnvVarName` (the classic, strict rule): letters, digits, `_`, `-`, `.`, not starting with
/// a digit, and not `.`, `..` or `..`-prefixed. Stricter than the relaxed rule newer API
/// servers allow, so that every accepted name is safe in `podman --env NAME=value`.
pub fn env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let ext = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    let shape_ok = match value.as_bytes() {
        [] => false,
        [first, rest @ ..] => {
            ext(*first) && !first.is_ascii_digit() && rest.iter().all(|b| ext(*b))
        }
    };
    if !shape_ok {
        errs.push(regex_error(
            ENV_VAR_NAME_ERR,
            ENV_VAR_NAME_FMT,
            &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".into());
    } else if value == ".." {
        errs.push("must not be '..'".into());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

/// `IsConfigMapKey`: the keys of ConfigMaps and Secrets (and so the names of their files).
pub fn config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !ok {
        errs.push(regex_error(
            CONFIG_MAP_KEY_ERR,
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".into());
    } else if value == ".." {
        errs.push("must not be '..'".into());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

/// `IsValidPortNum`: 1 through 65535.
pub fn port_number(port: i64) -> Vec<String> {
    in_range(port, 1, 65535)
}

/// `IsInRange`.
pub fn in_range(value: i64, min: i64, max: i64) -> Vec<String> {
    if (min..=max).contains(&value) {
        Vec::new()
    } else {
        vec![inclusive_range_error(min, max)]
    }
}

/// `IsValidUserID` / `IsValidGroupID`: 0 through 2^32-1.
pub fn unix_id(id: i64) -> Vec<String> {
    in_range(id, 0, u32::MAX as i64)
}

/// `IsValidPercent`: digits followed by one `%` (no sign, no fraction).
pub fn percent(value: &str) -> Vec<String> {
    let ok = value
        .strip_suffix('%')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Vec::new()
    } else {
        vec![regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"])]
    }
}

/// `IsHTTPHeaderName`: what Go's HTTP library accepts as a header field name.
pub fn http_header_name(value: &str) -> Vec<String> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Vec::new()
    } else {
        vec![regex_error(
            HTTP_HEADER_NAME_ERR,
            HTTP_HEADER_NAME_FMT,
            &["X-Header-Name"],
        )]
    }
}

/// `MaxLenError`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `EmptyError`.
pub fn empty_error() -> &'static str {
    "must be non-empty"
}

/// `InclusiveRangeError`.
pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// `RegexError`, with its exact punctuation (including the doubled space before "or").
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_dns1123_label_shape(value: &str) -> bool {
    let b = value.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            edge(first) && edge(last) && b.iter().all(|c| edge(c) || *c == b'-')
        }
        _ => false,
    }
}

/// Labels joined by single dots.
fn is_dns1123_subdomain_shape(value: &str) -> bool {
    value.split('.').all(is_dns1123_label_shape)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_name_shape(value: &str) -> bool {
    let b = value.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    //! Ported from k8s.io/apimachinery/pkg/util/validation/validation_test.go.
    use super::*;

    fn check(name: &str, f: fn(&str) -> Vec<String>, good: &[String], bad: &[String]) {
        for value in good {
            let errs = f(value);
            assert!(
                errs.is_empty(),
                "{name}: expected {value:?} valid: {errs:?}"
            );
        }
        for value in bad {
            assert!(!f(value).is_empty(), "{name}: expected {value:?} invalid");
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    fn with(mut values: Vec<String>, extra: impl IntoIterator<Item = String>) -> Vec<String> {
        values.extend(extra);
        values
    }

    #[test]
    fn is_dns1123_label() {
        let good = with(
            strings(&[
                "a",
                "ab",
                "abc",
                "a1",
                "a-1",
                "a--1--2--b",
                "0",
                "01",
                "012",
                "1a",
                "1-a",
                "1--a--b--2",
            ]),
            ["a".repeat(63)],
        );
        let bad = with(
            strings(&[
                "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_",
                "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ",
                "a ", " a", "a b", "1 ", " 1", "1 2",
            ]),
            ["a".repeat(64)],
        );
        check("IsDNS1123Label", dns1123_label, &good, &bad);
    }

    #[test]
    fn is_dns1123_subdomain() {
        let good = with(
            strings(&[
                "a",
                "ab",
                "abc",
                "a1",
                "a-1",
                "a--1--2--b",
                "0",
                "01",
                "012",
                "1a",
                "1-a",
                "1--a--b--2",
                "a.a",
                "ab.a",
                "abc.a",
                "a1.a",
                "a-1.a",
                "a--1--2--b.a",
                "a.1",
                "ab.1",
                "abc.1",
                "a1.1",
                "a-1.1",
                "a--1--2--b.1",
                "0.a",
                "01.a",
                "012.a",
                "1a.a",
                "1-a.a",
                "1--a--b--2",
                "0.1",
                "01.1",
                "012.1",
                "1a.1",
                "1-a.1",
                "1--a--b--2.1",
                "a.b.c.d.e",
                "aa.bb.cc.dd.ee",
                "1.2.3.4.5",
                "11.22.33.44.55",
            ]),
            ["a".repeat(253)],
        );
        let bad = with(
            strings(&[
                "",
                "A",
                "ABC",
                "aBc",
                "A1",
                "A-1",
                "1-A",
                "-",
                "a-",
                "-a",
                "1-",
                "-1",
                "_",
                "a_",
                "_a",
                "a_b",
                "1_",
                "_1",
                "1_2",
                ".",
                "a.",
                ".a",
                "a..b",
                "1.",
                ".1",
                "1..2",
                " ",
                "a ",
                " a",
                "a b",
                "1 ",
                " 1",
                "1 2",
                "A.a",
                "aB.a",
                "ab.A",
                "A1.a",
                "a1.A",
                "A.1",
                "aB.1",
                "A1.1",
                "1A.1",
                "0.A",
                "01.A",
                "012.A",
                "1A.a",
                "1a.A",
                "A.B.C.D.E",
                "AA.BB.CC.DD.EE",
                "a.B.c.d.e",
                "aa.bB.cc.dd.ee",
                "a@b",
                "a,b",
                "a_b",
                "a;b",
                "a:b",
                "a%b",
                "a?b",
                "a$b",
            ]),
            ["a".repeat(254)],
        );
        check("IsDNS1123Subdomain", dns1123_subdomain, &good, &bad);
    }

    #[test]
    fn is_valid_port_num() {
        for port in [1, 2, 1000, 16384, 32768, 65535] {
            assert!(port_number(port).is_empty(), "{port}");
        }
        for port in [0, -1, 65536, 100000] {
            assert_eq!(
                port_number(port),
                vec!["must be between 1 and 65535, inclusive".to_string()],
                "{port}"
            );
        }
    }

    #[test]
    fn is_in_range() {
        for (value, min, max) in [(1, 0, 10), (5, 5, 20), (25, 10, 25)] {
            assert!(in_range(value, min, max).is_empty());
        }
        for (value, min, max) in [(1, 2, 10), (5, -4, 2), (25, 100, 120)] {
            assert!(!in_range(value, min, max).is_empty());
        }
    }

    #[test]
    fn is_valid_user_and_group_id() {
        for id in [
            0, 1, 1000, 65535, 2147483647, 2147483648, 3000000000, 0xffffffff,
        ] {
            assert!(unix_id(id).is_empty(), "{id}");
        }
        for id in [-1, -1003, 0x100000000] {
            assert!(!unix_id(id).is_empty(), "{id}");
        }
    }

    #[test]
    fn is_valid_port_name() {
        let good = strings(&[
            "telnet",
            "re-mail-ck",
            "pop3",
            "a",
            "a-1",
            "1-a",
            "a-1-b-2-c",
            "1-a-2-b-3",
        ]);
        let bad = with(
            strings(&[
                "longerthan15characters",
                "",
                "12345",
                "1-2-3-4",
                "-begin",
                "end-",
                "two--hyphens",
                "whois++",
            ]),
            ["a".repeat(16)],
        );
        check("IsValidPortName", port_name, &good, &bad);
    }

    #[test]
    fn is_qualified_name() {
        let good = with(
            strings(&[
                "simple",
                "now-with-dashes",
                "1-starts-with-num",
                "1234",
                "simple/simple",
                "now-with-dashes/simple",
                "now-with-dashes/now-with-dashes",
                "now.with.dots/simple",
                "now-with.dashes-and.dots/simple",
                "1-num.2-num/3-num",
                "1234/5678",
                "1.2.3.4/5678",
                "Uppercase_Is_OK_123",
                "example.com/Uppercase_Is_OK_123",
                "requests.storage-foo",
            ]),
            [
                "a".repeat(63),
                format!("{}/{}", "a".repeat(253), "b".repeat(63)),
            ],
        );
        let bad = with(
            strings(&[
                "nospecialchars%^=@",
                "cantendwithadash-",
                "-cantstartwithadash-",
                "only/one/slash",
                "Example.com/abc",
                "example_com/abc",
                "example.com/",
                "/simple",
            ]),
            ["a".repeat(64), format!("{}/abc", "a".repeat(254))],
        );
        check("IsQualifiedName", qualified_name, &good, &bad);
    }

    #[test]
    fn is_valid_label_value() {
        let good = with(
            strings(&[
                "simple",
                "now-with-dashes",
                "1-starts-with-num",
                "end-with-num-1",
                "1234",
                "",
            ]),
            ["a".repeat(63)],
        );
        let bad = with(
            strings(&[
                "nospecialchars%^=@",
                "Tama-nui-te-rā.is.Māori.sun",
                "\\backslashes\\are\\bad",
                "-starts-with-dash",
                "ends-with-dash-",
                ".starts.with.dot",
                "ends.with.dot.",
            ]),
            ["a".repeat(64)],
        );
        check("IsValidLabelValue", label_value, &good, &bad);
    }

    #[test]
    fn is_http_header_name() {
        let good = strings(&[
            "Accept-Encoding",
            "Host",
            "If-Modified-Since",
            "X-Forwarded-For",
            "a",
            "ab",
            "abc",
            "a1",
            "-a",
            "a-",
            "a-b",
            "a-1",
            "a--1--2--b",
            "--abc-123",
            "A",
            "AB",
            "AbC",
            "A1",
            "-A",
            "A-",
            "A-B",
            "A-1",
            "A--1--2--B",
            "--123-ABC",
        ]);
        let bad = strings(&[
            "Host:",
            "X-Forwarded-For:",
            "X-@Home",
            "",
            "_",
            "a_",
            "_a",
            "1_",
            "1_2",
            ".",
            "a.",
            ".a",
            "a.b",
            "1.",
            ".1",
            "1.2",
            " ",
            "a ",
            " a",
            "a b",
            "1 ",
            " 1",
            "1 2",
            "#a#",
            "^",
            ",",
            ";",
            "=",
            "<",
            "?",
            "@",
            "{",
        ]);
        check("IsHTTPHeaderName", http_header_name, &good, &bad);
    }

    #[test]
    fn is_valid_percent() {
        let good = strings(&["0%", "00000%", "1%", "01%", "99%", "100%", "101%"]);
        let bad = strings(&[
            "", "0", "100", "0.0%", "99.9%", "hundred", " 1%", "1% ", "-0%", "-1%", "+1%",
        ]);
        check("IsValidPercent", percent, &good, &bad);
    }

    /// The classic `IsEnvVarName` regex plus its `hasChDirPrefix` rules.
    #[test]
    fn is_env_var_name() {
        let good = strings(&[
            "abc",
            "ABC",
            "AbC_123",
            "_123",
            "my.env-name",
            "MY_ENV.NAME",
            "MyEnvName1",
            "-a",
            ".a",
            "a..b",
        ]);
        let bad = strings(&[
            "", "1ABC", "a b", "a=b", "a$b", "a\nb", ".", "..", "..a", "ä", "a:b", "a/b",
        ]);
        check("IsEnvVarName", env_var_name, &good, &bad);
        assert_eq!(env_var_name(".."), vec!["must not be '..'".to_string()]);
    }

    /// Exact texts, from TestIsDomainPrefixedKey and TestIsDNS1123Label's messages.
    #[test]
    fn messages_are_kubernetes_own() {
        let regex = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        for key in [
            "example.com/_e",
            "example.com/e_",
            "example.com/e?",
            "example.com/e_$",
        ] {
            assert_eq!(qualified_name(key), vec![regex.to_string()], "{key}");
        }
        let slashes = "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
        for key in ["example/foo/bar", "/example/foo"] {
            assert_eq!(qualified_name(key), vec![slashes.to_string()], "{key}");
        }
        assert_eq!(
            dns1123_label("a.b"),
            vec!["must not contain dots".to_string()]
        );
        assert_eq!(
            dns1123_label("A"),
            vec!["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()]
        );
        assert_eq!(
            qualified_name("Example.com/abc")[0],
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            qualified_name("example.com/"),
            vec![
                "name part must be non-empty".to_string(),
                format!(
                    "name part {}",
                    regex_error(
                        LABEL_KEY_ERR,
                        LABEL_KEY_FMT,
                        &["MyName", "my.name", "123-abc"]
                    )
                )
            ]
        );
        assert_eq!(
            label_value(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }
}

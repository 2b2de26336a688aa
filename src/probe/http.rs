//! The HTTP/1.1 exchange of an httpGet probe, written by hand (pure): a GET with
//! `Connection: close`, and a reader that needs only the status line and the start of the body.
//! Like the kubelet, 200–399 is success (redirects are not followed: a 3xx already counts).

/// How much of a failing response's body a message shows.
pub const BODY_SHOWN: usize = 200;
/// Bytes read at most: headers of any sane size, plus the body that is shown.
pub const READ_LIMIT: usize = 16 * 1024;

/// The request. `host` is the Host header's default (`address:port`); a `Host` entry in the
/// probe's headers replaces it, and any other header of the same name as a default
/// (`User-Agent`, `Accept`) replaces that default, as the kubelet does.
pub fn request(host: &str, path: &str, headers: &[(String, String)]) -> Vec<u8> {
    let overrides = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut text = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in [
        ("Host", host),
        ("User-Agent", "dsctl-probe"),
        ("Accept", "*/*"),
    ] {
        if !overrides(name) {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Connection: close\r\n\r\n");
    text.into_bytes()
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The start of the body, decoded from chunks if it was chunked.
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// `HTTP 404, body: 'Not Found'` (the body trimmed, shortened and made printable).
    pub fn summary(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(BODY_SHOWN)])
            .trim()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>();
        let cut = if self.body.len() > BODY_SHOWN {
            "…"
        } else {
            ""
        };
        if body.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}, body: '{body}{cut}'", self.status)
        }
    }
}

/// The reader's verdict on the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Read more (unless the stream has ended: see [`finish`]).
    Incomplete,
    Done(Response),
    Invalid(String),
}

/// Parses what has arrived. A success is done as soon as its status line and headers are in;
/// a failure waits for enough body to show (or for the end of the stream).
pub fn parse(bytes: &[u8]) -> Parsed {
    let Some(line_end) = find(bytes, b"\r\n") else {
        return if bytes.len() > READ_LIMIT || !prefix_could_be_http(bytes) {
            Parsed::Invalid(not_http(bytes))
        } else {
            Parsed::Incomplete
        };
    };
    let status = match status_code(&bytes[..line_end]) {
        Ok(status) => status,
        Err(e) => return Parsed::Invalid(e),
    };
    let Some(head_end) = find(bytes, b"\r\n\r\n") else {
        return if bytes.len() >= READ_LIMIT {
            Parsed::Invalid(format!(
                "HTTP {status}: headers longer than {READ_LIMIT} bytes"
            ))
        } else {
            Parsed::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let raw_body = &bytes[head_end + 4..];
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    let (body, complete) = if chunked {
        dechunk(raw_body)
    } else {
        match length {
            Some(n) => (
                raw_body[..raw_body.len().min(n)].to_vec(),
                raw_body.len() >= n,
            ),
            None => (raw_body.to_vec(), false),
        }
    };
    let response = Response { status, body };
    if response.is_success()
        || complete
        || response.body.len() > BODY_SHOWN
        || bytes.len() >= READ_LIMIT
    {
        Parsed::Done(response)
    } else {
        Parsed::Incomplete
    }
}

/// The verdict once the stream has ended: what arrived is all there is.
pub fn finish(bytes: &[u8]) -> Result<Response, String> {
    match parse(bytes) {
        Parsed::Done(r) => Ok(r),
        Parsed::Invalid(e) => Err(e),
        Parsed::Incomplete if bytes.is_empty() => {
            Err("the connection closed without a response".into())
        }
        Parsed::Incomplete => {
            let line_end = find(bytes, b"\r\n").unwrap_or(bytes.len());
            match status_code(&bytes[..line_end]) {
                // Headers cut short: the status is still known.
                Ok(status) => {
                    let body = find(bytes, b"\r\n\r\n")
                        .map(|end| bytes[end + 4..].to_vec())
                        .unwrap_or_default();
                    Ok(Response { status, body })
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn prefix_could_be_http(bytes: &[u8]) -> bool {
    let n = bytes.len().min(5);
    bytes[..n] == b"HTTP/"[..n]
}

fn not_http(bytes: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("not an HTTP response: '{}'", shown.trim())
}

/// `HTTP/1.1 404 Not Found` → 404.
fn status_code(line: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split(' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(not_http(line));
    }
    match code.parse::<u16>() {
        Ok(status) if (100..1000).contains(&status) && code.len() == 3 => Ok(status),
        _ => Err(format!("malformed HTTP status line: '{}'", text.trim())),
    }
}

/// Decodes the chunks that have fully arrived; `true` once the last chunk is in.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(raw, b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            // Not chunked after all: show the bytes as they are.
            body.extend_from_slice(raw);
            return (body, true);
        };
        if size == 0 {
            return (body, true);
        }
        let data = &raw[line_end + 2..];
        if data.len() < size {
            body.extend_from_slice(data);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        raw = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_defaults_headers_and_connection_close() {
        let plain = String::from_utf8(request("127.0.0.1:8080", "/healthz?full=1", &[])).unwrap();
        assert_eq!(
            plain,
            "GET /healthz?full=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: dsctl-probe\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        let custom = String::from_utf8(request(
            "10.88.0.4:80",
            "/",
            &[
                ("host".into(), "web.example".into()),
                ("X-Token".into(), "abc".into()),
                ("Connection".into(), "keep-alive".into()),
            ],
        ))
        .unwrap();
        assert_eq!(
            custom,
            "GET / HTTP/1.1\r\nUser-Agent: dsctl-probe\r\nAccept: */*\r\nhost: web.example\r\n\
             X-Token: abc\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn responses() {
        let done = |status: u16, body: &str| {
            Parsed::Done(Response {
                status,
                body: body.as_bytes().to_vec(),
            })
        };
        let long = "x".repeat(300);
        let long_response = format!("HTTP/1.1 500 Oops\r\n\r\n{long}");
        let cases: Vec<(&str, &[u8], Parsed)> = vec![
            ("success needs no body", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", done(200, "")),
            ("a redirect is a success", b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n", done(302, "")),
            ("failure with a complete body", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found", done(404, "Not Found")),
            ("failure waits for its body", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot", Parsed::Incomplete),
            ("failure without a length waits for the end", b"HTTP/1.1 503 x\r\n\r\nbusy", Parsed::Incomplete),
            ("a long body is enough", long_response.as_bytes(), done(500, &long)),
            ("chunked", b"HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n", done(500, "Wikipedia")),
            ("chunked, cut", b"HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi", Parsed::Incomplete),
            ("headers still coming", b"HTTP/1.1 200 OK\r\nServer: x", Parsed::Incomplete),
            ("status line still coming", b"HTT", Parsed::Incomplete),
            ("not http", b"SSH-2.0-OpenSSH_9.6\r\n", Parsed::Invalid("not an HTTP response: 'SSH-2.0-OpenSSH_9.6'".into())),
            ("not http, no line yet", b"\x00\x01", Parsed::Invalid("not an HTTP response: ''".into())),
            ("bad status", b"HTTP/1.1 2000 OK\r\n\r\n", Parsed::Invalid("malformed HTTP status line: 'HTTP/1.1 2000 OK'".into())),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(parse(bytes), want, "{name}");
        }
    }

    #[test]
    fn the_end_of_the_stream_settles_what_arrived() {
        assert_eq!(
            finish(b"HTTP/1.1 503 x\r\n\r\nbusy"),
            Ok(Response {
                status: 503,
                body: b"busy".to_vec()
            })
        );
        assert_eq!(
            finish(b"HTTP/1.1 404 x\r\nServer: a"),
            Ok(Response {
                status: 404,
                body: vec![]
            })
        );
        assert_eq!(
            finish(b""),
            Err("the connection closed without a response".into())
        );
        assert_eq!(
            finish(b"HTTP/1"),
            Err("malformed HTTP status line: 'HTTP/1'".into())
        );
    }

    #[test]
    fn summaries_show_a_printable_prefix_of_the_body() {
        let r = |status, body: &str| Response {
            status,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            r(404, "Not Found\n").summary(),
            "HTTP 404, body: 'Not Found'"
        );
        assert_eq!(r(500, "").summary(), "HTTP 500");
        assert_eq!(r(500, "a\tb\r\nc").summary(), "HTTP 500, body: 'a b  c'");
        let long = r(500, &"y".repeat(250)).summary();
        assert_eq!(long, format!("HTTP 500, body: '{}…'", "y".repeat(200)));
        assert!(r(399, "").is_success() && !r(400, "").is_success() && !r(199, "").is_success());
    }
}

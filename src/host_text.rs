//! Text that a host controls (script stderr, change-cause, lock holder, record fields, journal
//! lines) is untrusted: an escape sequence in it could retitle the terminal, hide lines, fake
//! a "converged" report or, on some terminals, write to files. [`sanitize`] strips it, and
//! `output.rs` applies it to everything dsctl prints, so no call site can forget it. Only
//! `dsctl exec`'s stream (the process's own terminal, asked for) and generated documents are
//! written raw.

use std::borrow::Cow;

/// `text` without terminal control: escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ST`,
/// DCS/SOS/PM/APC `ESC P|X|^|_ … ST`, and two-character `ESC x`) are removed whole; every other
/// C0 control but newline and tab, DEL, and the C1 controls U+0080–U+009F (8-bit CSI among
/// them) are removed. Printable text, newlines and tabs stay as they were.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_stripped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if !is_stripped(c) {
                out.push(c);
            }
            continue;
        }
        match chars.next() {
            // CSI: parameter and intermediate bytes, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            // Any other escape is ESC plus one character (or a lone ESC at the end).
            _ => {}
        }
    }
    Cow::Owned(out)
}

fn is_stripped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{1b}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_control_is_stripped() {
        for (from_host, shown) in [
            (
                "plain text, tabs\tand\nnewlines",
                "plain text, tabs\tand\nnewlines",
            ),
            ("", ""),
            ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[2J\u{1b}[Hcleared", "cleared"),
            ("up\u{1b}[1A\u{1b}[2Kfake converged", "upfake converged"),
            ("\u{1b}]0;pwned title\u{7}after", "after"),
            (
                "\u{1b}]8;;file:///etc/shadow\u{1b}\\link\u{1b}]8;;\u{1b}\\",
                "link",
            ),
            ("\u{1b}P+q544e\u{1b}\\dcs", "dcs"),
            ("\u{1b}_apc\u{1b}\\x", "x"),
            ("\u{1b}7saved\u{1b}8", "saved"),
            ("\u{1b}(0box", "0box"),
            ("trailing escape\u{1b}", "trailing escape"),
            ("unterminated \u{1b}[31", "unterminated "),
            ("unterminated \u{1b}]0;title", "unterminated "),
            (
                "bell\u{7} backspace\u{8} nul\u{0} del\u{7f}",
                "bell backspace nul del",
            ),
            ("carriage\rreturn", "carriagereturn"),
            ("crlf line\r\n", "crlf line\n"),
            ("8-bit csi \u{9b}31m and nel\u{85}", "8-bit csi 31m and nel"),
            ("form\u{c}feed vt\u{b}", "formfeed vt"),
        ] {
            assert_eq!(sanitize(from_host), shown, "{from_host:?}");
        }
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(sanitize("node-1: in sync\n"), Cow::Borrowed(_)));
    }
}

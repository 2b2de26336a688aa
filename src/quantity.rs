//! Kubernetes resource quantities ("100m", "128Mi", 2), kept as written and parsed on demand.
//!
//! The grammar is Kubernetes' (`k8s.io/apimachinery/pkg/api/resource`): a signed decimal number,
//! then either a binary suffix (`Ki` … `Ei`), a decimal SI suffix (`n u m "" k M G T P E`) or a
//! decimal exponent (`e3`, `E-2`). Conversions round up, as `Quantity.Value()` and
//! `Quantity.MilliValue()` do, so `0.1m` CPU is one millicore and `1.5` bytes is two.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Str(String),
        }
        Ok(Quantity(match Raw::deserialize(d)? {
            Raw::Int(n) => n.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Str(s) => s,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "`{0}` is not a quantity (expected a number with an optional suffix such as 100m, 128Mi or 2)"
    )]
    Invalid(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// A parsed quantity: `digits / 10^frac_digits * 10^exp10 * 2^exp2`, with a sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedQuantity {
    negative: bool,
    digits: u128,
    frac_digits: u32,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    pub fn parse(&self) -> Result<ParsedQuantity, QuantityError> {
        parse(&self.0)
    }

    /// The value in thousandths (CPU millicores), rounded up.
    pub fn milli_value(&self) -> Result<i128, QuantityError> {
        self.parse()?
            .scaled(3)
            .ok_or_else(|| QuantityError::TooLarge(self.0.clone()))
    }

    /// The value in units (memory bytes), rounded up.
    pub fn value(&self) -> Result<i128, QuantityError> {
        self.parse()?
            .scaled(0)
            .ok_or_else(|| QuantityError::TooLarge(self.0.clone()))
    }
}

impl ParsedQuantity {
    pub fn is_negative(&self) -> bool {
        self.negative && self.digits != 0
    }

    /// `value * 10^scale`, rounded towards +∞; None on overflow.
    fn scaled(&self, scale: i32) -> Option<i128> {
        let mut num: u128 = self.digits.checked_mul(1u128.checked_shl(self.exp2)?)?;
        let mut den: u128 = 1;
        let exp = i64::from(self.exp10) + i64::from(scale) - i64::from(self.frac_digits);
        if exp >= 0 {
            num = num.checked_mul(10u128.checked_pow(u32::try_from(exp).ok()?)?)?;
        } else {
            // A divisor past 10^38 means the result is below one: 0 or, rounded up, 1.
            match u32::try_from(exp.unsigned_abs())
                .ok()
                .and_then(|e| 10u128.checked_pow(e))
            {
                Some(d) => den = d,
                None => {
                    let positive_nonzero = num != 0 && !self.negative;
                    return Some(i128::from(positive_nonzero));
                }
            }
        }
        let quotient = num / den;
        let rem = num % den;
        let magnitude = i128::try_from(quotient).ok()?;
        Some(if self.negative {
            -magnitude // towards +∞: drop the remainder of a negative value
        } else if rem != 0 {
            magnitude.checked_add(1)?
        } else {
            magnitude
        })
    }
}

fn parse(s: &str) -> Result<ParsedQuantity, QuantityError> {
    let invalid = || QuantityError::Invalid(s.to_string());
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(invalid());
    }
    let mut digits: u128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(u128::from(b - b'0')))
            .ok_or_else(|| QuantityError::TooLarge(s.to_string()))?;
    }
    let (exp10, exp2) = match suffix {
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "" => (0, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .filter(|e| {
                    let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
                    !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit())
                })
                .ok_or_else(invalid)?;
            let exp: i32 = exponent
                .parse()
                .map_err(|_| QuantityError::TooLarge(s.to_string()))?;
            (exp, 0)
        }
    };
    Ok(ParsedQuantity {
        negative,
        digits,
        frac_digits: frac_part.len() as u32,
        exp10,
        exp2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    #[test]
    fn milli_values() {
        let cases: &[(&str, i128)] = &[
            ("100m", 100),
            ("1", 1000),
            ("2", 2000),
            ("0.5", 500),
            ("1.5", 1500),
            ("250m", 250),
            ("0.1m", 1), // rounds up
            ("1500u", 2),
            ("1k", 1_000_000),
            ("1e3", 1_000_000),
            ("1E-3", 1),
            ("+3", 3000),
            ("-100m", -100),
            ("-0.1m", 0),
            (".5", 500),
            ("5.", 5000),
            ("1Ki", 1_024_000),
            ("0", 0),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).milli_value(), Ok(*want), "input {input}");
        }
    }

    #[test]
    fn byte_values() {
        let cases: &[(&str, i128)] = &[
            ("128Mi", 128 * 1024 * 1024),
            ("200Mi", 200 * 1024 * 1024),
            ("1Gi", 1 << 30),
            ("1.5Gi", 3 << 29),
            ("64Ki", 65536),
            ("1G", 1_000_000_000),
            ("1M", 1_000_000),
            ("1k", 1000),
            ("123", 123),
            ("1.5", 2), // rounds up
            ("100m", 1),
            ("1e6", 1_000_000),
            ("2Ei", 2 << 60),
            ("1n", 1),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).value(), Ok(*want), "input {input}");
        }
    }

    #[test]
    fn invalid_quantities() {
        for input in [
            "", "abc", "1K", "1.2.3", "Mi", "1 Mi", "1e", "1e+", "1mi", "--1", "1Kib", ".",
        ] {
            assert!(
                matches!(q(input).parse(), Err(QuantityError::Invalid(_))),
                "input {input:?} should be invalid"
            );
        }
    }

    #[test]
    fn huge_quantities_are_errors_not_panics() {
        assert!(matches!(q("1e40").value(), Err(QuantityError::TooLarge(_))));
        assert!(matches!(
            q("999999999999999999999999999999999999999999").parse(),
            Err(QuantityError::TooLarge(_))
        ));
        assert_eq!(q("1e-40").value(), Ok(1));
        assert!(matches!(
            q("1e2147483647").milli_value(),
            Err(QuantityError::TooLarge(_))
        ));
        assert_eq!(q("1e-2147483648").milli_value(), Ok(1));
        assert!(q("-5").parse().unwrap().is_negative());
        assert!(!q("-0").parse().unwrap().is_negative());
    }
}

//! `apply --max-unreachable N|P%`: how many unreachable hosts a run tolerates before it
//! refuses to start disruptive waves. Counted across the whole targeted fleet, once, after
//! observing (Ansible's `max_fail_percentage` counts per batch, so the same outage passes or
//! fails depending on the batch size, which surprises cron users).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnreachable {
    Count(usize),
    /// Per cent of the targeted hosts, rounded down (as maxUnavailable's percentages are
    /// for a budget that guards against too much).
    Percent(u32),
}

impl FromStr for MaxUnreachable {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is neither a count (3) nor a percentage (10%)");
        match s.strip_suffix('%') {
            Some(p) => match p.parse::<u32>() {
                Ok(p) if p <= 100 => Ok(MaxUnreachable::Percent(p)),
                _ => Err(bad()),
            },
            None => s.parse().map(MaxUnreachable::Count).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for MaxUnreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxUnreachable::Count(n) => write!(f, "{n}"),
            MaxUnreachable::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl MaxUnreachable {
    /// How many of `total` hosts may be unreachable.
    pub fn allowed(self, total: usize) -> usize {
        match self {
            MaxUnreachable::Count(n) => n,
            MaxUnreachable::Percent(p) => total * p as usize / 100,
        }
    }
}

/// Why disruptive waves must not start, naming the unreachable hosts; `None` within the
/// limit.
pub fn refusal(limit: MaxUnreachable, unreachable: &[&str], total: usize) -> Option<String> {
    (unreachable.len() > limit.allowed(total)).then(|| {
        format!(
            "{} of {total} hosts unreachable ({}), more than --max-unreachable {limit}: \
             no disruptive wave started",
            unreachable.len(),
            unreachable.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_percentages() {
        for (text, want) in [
            ("0", Ok(MaxUnreachable::Count(0))),
            ("3", Ok(MaxUnreachable::Count(3))),
            ("10%", Ok(MaxUnreachable::Percent(10))),
            ("100%", Ok(MaxUnreachable::Percent(100))),
        ] {
            assert_eq!(text.parse::<MaxUnreachable>(), want, "{text}");
        }
        for bad in ["", "-1", "101%", "x", "5 %", "%"] {
            assert!(bad.parse::<MaxUnreachable>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counted_across_the_fleet() {
        use MaxUnreachable::*;
        for (limit, down, total, refused) in [
            (Count(0), 0, 10, false),
            (Count(0), 1, 10, true),
            (Count(2), 2, 10, false),
            (Count(2), 3, 10, true),
            (Percent(10), 1, 10, false),
            (Percent(10), 2, 10, true),
            // 10% of 9 hosts rounds down to 0: one host down is already too many.
            (Percent(10), 1, 9, true),
            (Percent(100), 9, 9, false),
        ] {
            let names: Vec<String> = (0..down).map(|i| format!("h{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let got = refusal(limit, &names, total);
            assert_eq!(got.is_some(), refused, "{limit} {down}/{total}");
            if let Some(why) = got {
                assert!(why.contains(&names.join(", ")), "{why}");
            }
        }
    }
}

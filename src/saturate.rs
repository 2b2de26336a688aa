//! Clock arithmetic that cannot panic: a deadline too far away to represent is "never".

use std::time::Duration;

use tokio::time::Instant;

/// About 30 years: far enough to be "never" for a run, near enough for every clock to add.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + after`, saturated: `Instant + Duration` panics on overflow, and a deadline comes from a
/// spec (validate bounds it, but a spec read back from a host or a future field may not be).
pub fn instant_after(now: Instant, after: Duration) -> Instant {
    now.checked_add(after)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_instead_of_panicking() {
        let now = Instant::now();
        for (after, expected) in [
            (Duration::ZERO, Some(now)),
            (
                Duration::from_secs(300),
                now.checked_add(Duration::from_secs(300)),
            ),
            (Duration::from_secs(u64::MAX), now.checked_add(FAR_FUTURE)),
            (Duration::MAX, now.checked_add(FAR_FUTURE)),
        ] {
            assert_eq!(Some(instant_after(now, after)), expected, "{after:?}");
        }
    }
}

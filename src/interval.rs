//! `--interval` values, apart from `watch.rs` so that build.rs can compile `cli.rs` with it.

use std::time::Duration;

/// `--interval`: `5s`, `500ms`, `2m`, `1h`, or plain seconds. At least 100 ms, so a typo
/// cannot turn the controller into a busy loop over the fleet.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 5s, 500ms, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (ms, s, m, h)")),
    };
    let interval = Duration::from_secs_f64(value * scale);
    if interval < Duration::from_millis(100) {
        return Err(format!("{text:?} is shorter than 100ms"));
    }
    Ok(interval)
}

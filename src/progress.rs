//! How a rollout shows itself while it runs, kept apart from the work: the driver reports
//! events, and a renderer draws them — live bars on a terminal (indicatif), plain lines on
//! stderr otherwise (cron, pipes), nothing for `-o json`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Pulling images before anything stops.
    Pulling,
    /// Waiting for an earlier wave.
    Waiting {
        wave: usize,
        waves: usize,
    },
    /// maxSurge: starting the new revision beside the old instance and waiting until it is
    /// available, before the old instance is replaced.
    Surging,
    /// Running the host's script (writes, restarts, removals) in a wave ("calm", "2/3").
    Updating {
        wave: String,
    },
    /// Waiting for probes and minReadySeconds.
    Probing,
    Available,
    Failed(String),
    /// Not touched: an earlier wave halted the rollout.
    Halted,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Pulling => f.write_str("pulling images"),
            Phase::Waiting { wave, waves } => write!(f, "waiting (wave {wave}/{waves})"),
            Phase::Surging => f.write_str("surging: new instance starting beside the old one"),
            Phase::Updating { wave } => write!(f, "updating (wave {wave})"),
            Phase::Probing => f.write_str("probing"),
            Phase::Available => f.write_str("available"),
            Phase::Failed(why) => write!(f, "failed: {}", why.lines().next().unwrap_or("")),
            Phase::Halted => f.write_str("not updated: the rollout halted"),
        }
    }
}

/// Receives the driver's events; must be cheap and never block the work.
pub trait Progress: Send + Sync {
    fn host(&self, host: &str, phase: Phase);
}

/// No output (`-o json`, dry runs, read-only commands).
pub struct Silent;

impl Progress for Silent {
    fn host(&self, _: &str, _: Phase) {}
}

/// One line per event on stderr, for logs and cron.
pub struct Lines;

impl Progress for Lines {
    fn host(&self, host: &str, phase: Phase) {
        crate::errln!("{host}: {phase}");
    }
}

/// A live spinner per host on a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::default(),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Progress for Bars {
    fn host(&self, host: &str, phase: Phase) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
                    .expect("valid template"),
            );
            bar.set_prefix(host.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        let done = matches!(phase, Phase::Available | Phase::Failed(_) | Phase::Halted);
        // indicatif draws itself, past output.rs: a failure's host text is stripped here.
        bar.set_message(crate::host_text::sanitize(&phase.to_string()).into_owned());
        if done {
            bar.finish();
        }
    }
}

/// Bars on a terminal, lines elsewhere; nothing when `quiet`.
pub fn for_output(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    }
}

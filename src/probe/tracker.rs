//! The kubelet's prober state machine (pkg/kubelet/prober/worker.go), pure: fed with timed
//! results, it says when the next probe is due and what the probes concluded. Times are
//! durations since the container (re)started, so tests need no clock.
//!
//! Kept from the kubelet:
//! - a probe is disabled for initialDelaySeconds, then runs every periodSeconds;
//! - its verdict changes only after successThreshold successes or failureThreshold failures
//!   in a row; a result below its threshold leaves the verdict as it was;
//! - readiness and liveness wait until the startup probe (if any) has succeeded; the startup
//!   probe stops once it has;
//! - a liveness or startup probe that reaches failureThreshold is final: the kubelet would
//!   restart the container, and probing stops until a new container appears.
//!
//! One difference: the kubelet's ticker starts with the worker, so the first probe after the
//! initial delay waits for the next tick; here it runs as soon as the delay is over, which only
//! makes a rollout faster and never runs a probe early.

use std::time::Duration;

use serde::Serialize;

use crate::daemonset::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Startup => "startup probe",
            ProbeKind::Readiness => "readiness probe",
            ProbeKind::Liveness => "liveness probe",
        })
    }
}

/// What one probe found. A failure says what failed, with the output that shows why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "output", rename_all = "lowercase")]
pub enum ProbeResult {
    Success,
    Failure(String),
}

impl ProbeResult {
    pub fn is_success(&self) -> bool {
        matches!(self, ProbeResult::Success)
    }
}

/// A probe's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ProbeState {
    /// No threshold reached yet (during the initial delay, or between thresholds).
    Unknown,
    /// successThreshold successes in a row: ready, alive or started, by the probe's kind.
    Ready,
    /// A readiness probe failed failureThreshold times in a row; it may recover.
    NotReady,
    /// A liveness or startup probe failed failureThreshold times in a row: final.
    Failed { last_output: String },
}

/// A probe's schedule and thresholds, with the API server's minimums applied (validation
/// reports values below them; the prober never divides by zero or spins because of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    pub fn of(probe: &Probe) -> Timing {
        let secs = |n: i64, min: u64| Duration::from_secs(u64::try_from(n).unwrap_or(0).max(min));
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX).max(1);
        Timing {
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 1),
            timeout: secs(probe.timeout_seconds, 1),
            success_threshold: count(probe.success_threshold),
            failure_threshold: count(probe.failure_threshold),
        }
    }

    /// The stand-in for a missing readiness probe (unit active, container running): checked
    /// every second, ready on the first success as the kubelet makes a probeless container.
    pub fn running_check() -> Timing {
        Timing {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            success_threshold: 1,
            failure_threshold: 1,
        }
    }
}

/// The results in a row that the verdict is counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "last", content = "count", rename_all = "lowercase")]
pub enum Streak {
    None,
    Successes(u32),
    Failures(u32),
}

/// One probe of one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTracker {
    kind: ProbeKind,
    timing: Timing,
    state: ProbeState,
    streak: Streak,
    last_failure: Option<String>,
    next_due: Option<Duration>,
}

impl ProbeTracker {
    pub fn new(kind: ProbeKind, timing: Timing) -> ProbeTracker {
        ProbeTracker {
            kind,
            timing,
            state: ProbeState::Unknown,
            streak: Streak::None,
            last_failure: None,
            next_due: Some(timing.initial_delay),
        }
    }

    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn state(&self) -> &ProbeState {
        &self.state
    }

    pub fn streak(&self) -> Streak {
        self.streak
    }

    /// The output of the most recent failure, even one below the threshold.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// When the next probe should run; `None` once probing has stopped (a started startup
    /// probe, or a final failure).
    pub fn next_due(&self) -> Option<Duration> {
        self.next_due
    }

    pub fn is_due(&self, now: Duration) -> bool {
        self.next_due.is_some_and(|due| due <= now)
    }

    /// Holds the next probe until `at` at the earliest (readiness and liveness wait for the
    /// startup probe).
    pub fn not_before(&mut self, at: Duration) {
        if let Some(due) = &mut self.next_due {
            *due = (*due).max(at);
        }
    }

    /// Records the result of a probe that started at `at`; returns the new verdict if it changed.
    /// A result before the initial delay, or after probing stopped, is ignored.
    pub fn observe(&mut self, at: Duration, result: &ProbeResult) -> Option<ProbeState> {
        if self.next_due.is_none() || at < self.timing.initial_delay {
            return None;
        }
        self.next_due = Some(at + self.timing.period);
        self.streak = match (self.streak, result) {
            (Streak::Successes(n), ProbeResult::Success) => Streak::Successes(n.saturating_add(1)),
            (_, ProbeResult::Success) => Streak::Successes(1),
            (Streak::Failures(n), ProbeResult::Failure(_)) => Streak::Failures(n.saturating_add(1)),
            (_, ProbeResult::Failure(_)) => Streak::Failures(1),
        };
        if let ProbeResult::Failure(output) = result {
            self.last_failure = Some(output.clone());
        }
        let verdict = match (self.streak, result) {
            (Streak::Successes(n), _) if n >= self.timing.success_threshold => ProbeState::Ready,
            (Streak::Failures(n), ProbeResult::Failure(output))
                if n >= self.timing.failure_threshold =>
            {
                match self.kind {
                    ProbeKind::Readiness => ProbeState::NotReady,
                    ProbeKind::Liveness | ProbeKind::Startup => ProbeState::Failed {
                        last_output: output.clone(),
                    },
                }
            }
            _ => return None,
        };
        let stops = matches!(
            (&verdict, self.kind),
            (ProbeState::Failed { .. }, _) | (ProbeState::Ready, ProbeKind::Startup)
        );
        if stops {
            self.next_due = None;
        }
        if verdict == self.state {
            return None;
        }
        self.state = verdict.clone();
        Some(verdict)
    }
}

/// The probes of one container, with the startup probe gating the other two.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerProbes {
    startup: Option<ProbeTracker>,
    readiness: ProbeTracker,
    liveness: Option<ProbeTracker>,
}

impl ContainerProbes {
    /// `readiness` is the readinessProbe's timing, or [`Timing::running_check`] without one.
    pub fn new(startup: Option<Timing>, readiness: Timing, liveness: Option<Timing>) -> Self {
        ContainerProbes {
            startup: startup.map(|t| ProbeTracker::new(ProbeKind::Startup, t)),
            readiness: ProbeTracker::new(ProbeKind::Readiness, readiness),
            liveness: liveness.map(|t| ProbeTracker::new(ProbeKind::Liveness, t)),
        }
    }

    /// Started: no startup probe, or it has succeeded.
    pub fn started(&self) -> bool {
        self.startup
            .as_ref()
            .is_none_or(|s| *s.state() == ProbeState::Ready)
    }

    pub fn tracker(&self, kind: ProbeKind) -> Option<&ProbeTracker> {
        match kind {
            ProbeKind::Startup => self.startup.as_ref(),
            ProbeKind::Readiness => Some(&self.readiness),
            ProbeKind::Liveness => self.liveness.as_ref(),
        }
    }

    fn tracker_mut(&mut self, kind: ProbeKind) -> Option<&mut ProbeTracker> {
        match kind {
            ProbeKind::Startup => self.startup.as_mut(),
            ProbeKind::Readiness => Some(&mut self.readiness),
            ProbeKind::Liveness => self.liveness.as_mut(),
        }
    }

    /// The probes that may run now: only the startup probe until it has succeeded.
    fn active(&self) -> impl Iterator<Item = &ProbeTracker> {
        let started = self.started();
        self.startup
            .iter()
            .filter(move |_| !started)
            .chain([&self.readiness].into_iter().filter(move |_| started))
            .chain(self.liveness.iter().filter(move |_| started))
    }

    /// The probes due at `now`, startup first.
    pub fn due(&self, now: Duration) -> Vec<ProbeKind> {
        self.active()
            .filter(|t| t.is_due(now))
            .map(ProbeTracker::kind)
            .collect()
    }

    /// When the next probe is due; `None` if none will run again.
    pub fn next_due(&self) -> Option<Duration> {
        self.active().filter_map(ProbeTracker::next_due).min()
    }

    /// Records a result; returns the probe's new verdict if it changed. A startup success
    /// releases readiness and liveness at once (each still waits for its own initial delay).
    pub fn observe(
        &mut self,
        kind: ProbeKind,
        at: Duration,
        result: &ProbeResult,
    ) -> Option<ProbeState> {
        let changed = self.tracker_mut(kind)?.observe(at, result);
        if kind == ProbeKind::Startup && changed == Some(ProbeState::Ready) {
            self.readiness.not_before(at);
            if let Some(liveness) = &mut self.liveness {
                liveness.not_before(at);
            }
        }
        changed
    }

    /// Ready: started, and the readiness verdict is Ready.
    pub fn is_ready(&self) -> bool {
        self.started() && *self.readiness.state() == ProbeState::Ready
    }

    /// A final failure (startup or liveness reached failureThreshold).
    pub fn failed(&self) -> Option<&ProbeTracker> {
        [self.startup.as_ref(), self.liveness.as_ref()]
            .into_iter()
            .flatten()
            .find(|t| matches!(t.state(), ProbeState::Failed { .. }))
    }
}

/// Kubernetes' availability (`podutil.IsPodAvailable`): ready, continuously, for
/// minReadySeconds. Any not-ready observation starts the count again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    min_ready: Duration,
    ready_since: Option<Duration>,
}

impl Availability {
    pub fn new(min_ready_seconds: i64) -> Availability {
        Availability {
            min_ready: Duration::from_secs(u64::try_from(min_ready_seconds).unwrap_or(0)),
            ready_since: None,
        }
    }

    pub fn min_ready(&self) -> Duration {
        self.min_ready
    }

    /// Records whether the instance was ready at `at`.
    pub fn observe(&mut self, at: Duration, ready: bool) {
        match (ready, self.ready_since) {
            (true, None) => self.ready_since = Some(at),
            (false, _) => self.ready_since = None,
            (true, Some(_)) => {}
        }
    }

    pub fn ready_since(&self) -> Option<Duration> {
        self.ready_since
    }

    /// When the instance becomes available if it stays ready.
    pub fn available_at(&self) -> Option<Duration> {
        self.ready_since.map(|since| since + self.min_ready)
    }

    pub fn is_available(&self, now: Duration) -> bool {
        self.available_at().is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn timing(delay: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: secs(delay),
            period: secs(period),
            timeout: secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    const OK: char = '+';
    const BAD: char = '-';

    /// Feeds one result a period, starting at the initial delay; returns the verdict after each.
    fn run(kind: ProbeKind, t: Timing, results: &str) -> Vec<ProbeState> {
        let mut tracker = ProbeTracker::new(kind, t);
        let mut states = Vec::new();
        for (i, c) in results.chars().enumerate() {
            let at = t.initial_delay + t.period * u32::try_from(i).unwrap();
            assert!(tracker.is_due(at), "{kind:?} {results}: probe {i} not due");
            let result = match c {
                OK => ProbeResult::Success,
                BAD => ProbeResult::Failure(format!("failure {i}")),
                _ => unreachable!(),
            };
            tracker.observe(at, &result);
            states.push(tracker.state().clone());
        }
        states
    }

    #[test]
    fn thresholds_count_consecutive_results_like_the_kubelet() {
        use ProbeKind::*;
        use ProbeState::{NotReady as N, Ready as R, Unknown as U};
        let failed = |i: usize| ProbeState::Failed {
            last_output: format!("failure {i}"),
        };
        let cases: Vec<(&str, ProbeKind, Timing, &str, Vec<ProbeState>)> = vec![
            (
                "one success is enough by default",
                Readiness,
                timing(0, 10, 1, 3),
                "+",
                vec![R],
            ),
            (
                "successThreshold 2 needs two in a row",
                Readiness,
                timing(0, 1, 2, 3),
                "+-++",
                vec![U, U, U, R],
            ),
            (
                "failures below the threshold keep Ready",
                Readiness,
                timing(0, 1, 1, 3),
                "+--+",
                vec![R, R, R, R],
            ),
            (
                "failureThreshold failures make NotReady",
                Readiness,
                timing(0, 1, 1, 3),
                "+---",
                vec![R, R, R, N],
            ),
            (
                "a success interrupts the failure count",
                Readiness,
                timing(0, 1, 1, 3),
                "+--+--",
                vec![R, R, R, R, R, R],
            ),
            (
                "NotReady recovers after successThreshold",
                Readiness,
                timing(0, 1, 2, 1),
                "++-++",
                vec![U, R, N, N, R],
            ),
            (
                "readiness failing from the start is NotReady",
                Readiness,
                timing(0, 1, 1, 2),
                "--",
                vec![U, N],
            ),
            (
                "liveness failing failureThreshold times is final",
                Liveness,
                timing(0, 1, 1, 3),
                "+---",
                vec![R, R, R, failed(3)],
            ),
            (
                "startup fails after failureThreshold",
                Startup,
                timing(0, 1, 1, 2),
                "--",
                vec![U, failed(1)],
            ),
            (
                "startup succeeds once",
                Startup,
                timing(0, 1, 1, 30),
                "--+",
                vec![U, U, R],
            ),
        ];
        for (name, kind, t, results, want) in cases {
            assert_eq!(run(kind, t, results), want, "{name}");
        }
    }

    #[test]
    fn schedule_honours_initial_delay_and_period() {
        let mut t = ProbeTracker::new(ProbeKind::Readiness, timing(5, 3, 1, 3));
        assert_eq!(t.next_due(), Some(secs(5)));
        assert!(!t.is_due(secs(4)));
        // A result from before the initial delay is ignored, as the kubelet skips the probe.
        assert_eq!(t.observe(secs(4), &ProbeResult::Success), None);
        assert_eq!(t.next_due(), Some(secs(5)));
        // A late probe reschedules from when it ran.
        t.observe(secs(7), &ProbeResult::Failure("x".into()));
        assert_eq!(t.next_due(), Some(secs(10)));
        assert_eq!(t.streak(), Streak::Failures(1));
        assert_eq!(t.last_failure(), Some("x"));
        assert_eq!(
            t.observe(secs(10), &ProbeResult::Success),
            Some(ProbeState::Ready)
        );
        assert_eq!(
            t.observe(secs(13), &ProbeResult::Success),
            None,
            "no change"
        );
        assert_eq!(t.last_failure(), Some("x"), "kept for messages");
    }

    #[test]
    fn probing_stops_after_startup_success_and_final_failures() {
        for (kind, result, stops) in [
            (ProbeKind::Startup, ProbeResult::Success, true),
            (ProbeKind::Startup, ProbeResult::Failure("no".into()), true),
            (ProbeKind::Liveness, ProbeResult::Failure("no".into()), true),
            (ProbeKind::Liveness, ProbeResult::Success, false),
            (
                ProbeKind::Readiness,
                ProbeResult::Failure("no".into()),
                false,
            ),
        ] {
            let mut t = ProbeTracker::new(kind, timing(0, 2, 1, 1));
            t.observe(secs(0), &result);
            assert_eq!(t.next_due().is_none(), stops, "{kind:?} {result:?}");
            // Nothing is recorded once stopped.
            if stops {
                assert_eq!(t.observe(secs(2), &ProbeResult::Success), None);
            }
        }
    }

    #[test]
    fn startup_gates_readiness_and_liveness() {
        let mut c = ContainerProbes::new(
            Some(timing(0, 2, 1, 10)),
            timing(1, 5, 1, 3),
            Some(timing(30, 10, 1, 3)),
        );
        assert!(!c.started());
        assert_eq!(c.due(secs(0)), vec![ProbeKind::Startup]);
        // Readiness's initial delay is over at 1s, but it waits for the startup probe.
        assert_eq!(c.due(secs(1)), vec![ProbeKind::Startup]);
        assert_eq!(c.next_due(), Some(secs(0)));
        c.observe(
            ProbeKind::Startup,
            secs(0),
            &ProbeResult::Failure("no".into()),
        );
        assert_eq!(c.next_due(), Some(secs(2)));
        assert_eq!(
            c.observe(ProbeKind::Startup, secs(2), &ProbeResult::Success),
            Some(ProbeState::Ready)
        );
        assert!(c.started());
        // Readiness runs at once; liveness still waits for its own initial delay.
        assert_eq!(c.due(secs(2)), vec![ProbeKind::Readiness]);
        assert_eq!(c.next_due(), Some(secs(2)));
        assert!(!c.is_ready());
        c.observe(ProbeKind::Readiness, secs(2), &ProbeResult::Success);
        assert!(c.is_ready());
        assert_eq!(c.next_due(), Some(secs(7)));
        assert_eq!(
            c.due(secs(30)),
            vec![ProbeKind::Readiness, ProbeKind::Liveness]
        );
        assert!(c.failed().is_none());
    }

    #[test]
    fn a_final_liveness_failure_is_reported() {
        let mut c = ContainerProbes::new(None, timing(0, 1, 1, 3), Some(timing(0, 1, 1, 2)));
        c.observe(
            ProbeKind::Liveness,
            secs(0),
            &ProbeResult::Failure("a".into()),
        );
        assert!(c.failed().is_none());
        c.observe(
            ProbeKind::Liveness,
            secs(1),
            &ProbeResult::Failure("b".into()),
        );
        let failed = c.failed().unwrap();
        assert_eq!(failed.kind(), ProbeKind::Liveness);
        assert_eq!(
            failed.state(),
            &ProbeState::Failed {
                last_output: "b".into()
            }
        );
    }

    #[test]
    fn availability_needs_readiness_held_for_min_ready_seconds() {
        // (minReadySeconds, observations (at, ready), now, available)
        type Case<'a> = (i64, &'a [(u64, bool)], u64, bool);
        let cases: &[Case] = &[
            (0, &[], 0, false),
            (0, &[(0, true)], 0, true),
            (5, &[(0, true)], 4, false),
            (5, &[(0, true)], 5, true),
            (5, &[(0, true), (3, true)], 5, true),
            (5, &[(0, true), (3, false), (4, true)], 8, false),
            (5, &[(0, true), (3, false), (4, true)], 9, true),
            (5, &[(0, true), (6, false)], 6, false),
        ];
        for (min_ready, observations, now, want) in cases {
            let mut a = Availability::new(*min_ready);
            for (at, ready) in *observations {
                a.observe(secs(*at), *ready);
            }
            assert_eq!(
                a.is_available(secs(*now)),
                *want,
                "minReady {min_ready} {observations:?} at {now}"
            );
        }
        let mut a = Availability::new(10);
        a.observe(secs(2), true);
        a.observe(secs(4), true);
        assert_eq!(a.available_at(), Some(secs(12)));
    }

    #[test]
    fn timing_applies_the_api_minimums() {
        let probe: Probe = toml::from_str(
            "exec = { command = [\"true\"] }\nperiodSeconds = 0\ntimeoutSeconds = -1\nsuccessThreshold = 0\nfailureThreshold = 0\ninitialDelaySeconds = -5",
        )
        .unwrap();
        assert_eq!(
            Timing::of(&probe),
            Timing {
                initial_delay: Duration::ZERO,
                period: secs(1),
                timeout: secs(1),
                success_threshold: 1,
                failure_threshold: 1,
            }
        );
        let defaults: Probe = toml::from_str("exec = { command = [\"true\"] }").unwrap();
        assert_eq!(Timing::of(&defaults), timing(0, 10, 1, 3));
    }
}

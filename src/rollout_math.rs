//! Rolling-update arithmetic, as the Kubernetes DaemonSet controller does it.
//!
//! Ported from `intstr.GetScaledValueFromIntOrPercent` (apimachinery) and from
//! `updatedDesiredNodeCounts` / `util.UnavailableCount` / `util.SurgeCount`
//! (pkg/controller/daemon). Pure: later rollout planning builds on [`resolve_budget`].

use thiserror::Error;

use crate::daemonset::{UpdateStrategy, UpdateStrategyType};
use crate::int_or_string::IntOrString;

/// How many hosts a rolling update may take down, and start early, at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_unavailable: usize,
    pub max_surge: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScaleError {
    /// Kubernetes accepts an integer or a string ending in `%`, nothing else.
    #[error("invalid value {value:?}: {reason}")]
    Invalid { value: String, reason: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BudgetError {
    #[error("invalid value for maxUnavailable: {0}")]
    MaxUnavailable(ScaleError),
    #[error("invalid value for maxSurge: {0}")]
    MaxSurge(ScaleError),
    #[error("{field} resolves to {value}, which is negative")]
    Negative { field: &'static str, value: i64 },
}

/// An integer as is, or `N%` of `total`, rounded up or down (`GetScaledValueFromIntOrPercent`).
///
/// A string must be digits followed by exactly one `%`: `"90"`, `"%"`, `"40%%"` are errors.
pub fn scaled_value(value: &IntOrString, total: usize, round_up: bool) -> Result<i64, ScaleError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let invalid = |reason| ScaleError::Invalid {
                value: s.clone(),
                reason,
            };
            let digits = s
                .strip_suffix('%')
                .ok_or_else(|| invalid("string is not a percentage"))?;
            // Go's strconv.Atoi: optional sign, then decimal digits.
            let percent: i64 = digits
                .parse()
                .map_err(|_| invalid("percentage is not an integer"))?;
            // Go computes in float64 and rounds; so do we, to round identically.
            let exact = percent as f64 * total as f64 / 100.0;
            let rounded = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            Ok(rounded as i64)
        }
    }
}

/// maxUnavailable and maxSurge resolved against the number of hosts that should run the
/// DaemonSet, as `updatedDesiredNodeCounts` does.
///
/// Missing values take the API server's defaults (maxUnavailable 1, maxSurge 0). OnDelete
/// resolves both to 0 first. Percentages round up. If both end up 0 while some host wants
/// the DaemonSet, maxUnavailable becomes 1 so that an update can still progress; with no
/// desired host both stay 0.
pub fn resolve_budget(strategy: &UpdateStrategy, desired: usize) -> Result<Budget, BudgetError> {
    let (unavailable, surge) = match strategy.kind {
        UpdateStrategyType::OnDelete => (0, 0),
        UpdateStrategyType::RollingUpdate => {
            let rolling = strategy.rolling_update.as_ref();
            let unavailable = match rolling.and_then(|r| r.max_unavailable.as_ref()) {
                Some(v) => scaled_value(v, desired, true).map_err(BudgetError::MaxUnavailable)?,
                None => 1,
            };
            let surge = match rolling.and_then(|r| r.max_surge.as_ref()) {
                Some(v) => scaled_value(v, desired, true).map_err(BudgetError::MaxSurge)?,
                None => 0,
            };
            (unavailable, surge)
        }
    };
    let non_negative = |field, value: i64| {
        usize::try_from(value).map_err(|_| BudgetError::Negative { field, value })
    };
    let mut max_unavailable = non_negative("maxUnavailable", unavailable)?;
    let max_surge = non_negative("maxSurge", surge)?;
    if desired > 0 && max_unavailable == 0 && max_surge == 0 {
        max_unavailable = 1;
    }
    Ok(Budget {
        max_unavailable,
        max_surge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::RollingUpdate;

    fn int(n: i64) -> IntOrString {
        IntOrString::Int(n)
    }

    fn string(s: &str) -> IntOrString {
        IntOrString::String(s.to_string())
    }

    /// k8s: apimachinery/pkg/util/intstr/intstr_test.go, TestGetIntFromIntOrPercent.
    #[test]
    fn get_int_from_int_or_percent() {
        let cases: &[(IntOrString, usize, bool, Option<i64>)] = &[
            (int(123), 0, false, Some(123)),
            (string("90%"), 100, true, Some(90)),
            (string("90%"), 95, true, Some(86)),
            (string("90%"), 95, false, Some(85)),
            (string("%"), 0, false, None),
            (string("90#"), 0, false, None),
            (string("#%"), 0, false, None),
            (string("90"), 0, false, None),
        ];
        for (input, total, round_up, want) in cases {
            let got = scaled_value(input, *total, *round_up).ok();
            assert_eq!(got, *want, "{input:?} of {total} (round up: {round_up})");
        }
    }

    /// k8s: intstr_test.go, TestGetIntOrPercentValueSafely (scaled against 100, so the value
    /// comes back unchanged).
    #[test]
    fn get_int_or_percent_value_safely() {
        let cases: &[(IntOrString, Option<i64>)] = &[
            (int(10), Some(10)),
            (string("10"), None),
            (string("10%"), Some(10)),
            (string("%"), None),
            (string("a%"), None),
            (string("a"), None),
            (string("40#"), None),
            (string("40%%"), None),
        ];
        for (input, want) in cases {
            assert_eq!(scaled_value(input, 100, true).ok(), *want, "{input:?}");
        }
    }

    /// Percentages of small host counts round up, never to zero unless the percent is zero.
    #[test]
    fn percentages_round_up() {
        let cases: &[(&str, usize, i64)] = &[
            ("25%", 1, 1),
            ("25%", 4, 1),
            ("25%", 5, 2),
            ("10%", 9, 1),
            ("10%", 10, 1),
            ("10%", 11, 2),
            ("33%", 3, 1),
            ("100%", 7, 7),
            ("0%", 7, 0),
            ("50%", 0, 0),
            ("+50%", 4, 2),
        ];
        for (percent, total, want) in cases {
            assert_eq!(
                scaled_value(&string(percent), *total, true),
                Ok(*want),
                "{percent} of {total}"
            );
        }
    }

    fn rolling(unavailable: Option<IntOrString>, surge: Option<IntOrString>) -> UpdateStrategy {
        UpdateStrategy {
            kind: UpdateStrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdate {
                max_unavailable: unavailable,
                max_surge: surge,
            }),
        }
    }

    /// update_test.go `newUpdateUnavailable`: maxUnavailable set, maxSurge left to default.
    fn unavailable(v: IntOrString) -> UpdateStrategy {
        rolling(Some(v), None)
    }

    /// update_test.go `newUpdateSurge`: maxUnavailable 0 and maxSurge set.
    fn surge(v: IntOrString) -> UpdateStrategy {
        rolling(Some(int(0)), Some(v))
    }

    /// k8s: pkg/controller/daemon/update_test.go, TestGetUnavailableNumbers (the node counts
    /// are the desired counts; pods on nodes do not enter the budget).
    #[test]
    fn get_unavailable_numbers() {
        let cases: &[(&str, UpdateStrategy, usize, usize, usize)] = &[
            // (name, strategy, desired, maxUnavailable, maxSurge)
            ("No nodes", unavailable(int(0)), 0, 0, 0),
            ("Two nodes with ready pods", unavailable(int(1)), 2, 1, 0),
            (
                "Two nodes, one node without pods",
                unavailable(int(0)),
                2,
                1,
                0,
            ),
            (
                "Two nodes, one node without pods, surge",
                surge(int(0)),
                2,
                1,
                0,
            ),
            (
                "Two nodes with pods, MaxUnavailable in percents",
                unavailable(string("50%")),
                2,
                1,
                0,
            ),
            (
                "Two nodes with pods, MaxUnavailable in percents, surge",
                surge(string("50%")),
                2,
                0,
                1,
            ),
            (
                "Two nodes with pods, MaxUnavailable is 100%, surge",
                surge(string("100%")),
                2,
                0,
                2,
            ),
            (
                "Two nodes with pods, MaxUnavailable in percents, pod terminating",
                unavailable(string("50%")),
                3,
                2,
                0,
            ),
        ];
        for (name, strategy, desired, want_unavailable, want_surge) in cases {
            assert_eq!(
                resolve_budget(strategy, *desired),
                Ok(Budget {
                    max_unavailable: *want_unavailable,
                    max_surge: *want_surge
                }),
                "{name}"
            );
        }
    }

    /// The API server's defaults (SetDefaults_DaemonSet) and OnDelete (UnavailableCount and
    /// SurgeCount return 0 for it, then the controller's floor of 1 applies).
    #[test]
    fn defaults_and_on_delete() {
        let default = UpdateStrategy::default();
        let on_delete = UpdateStrategy {
            kind: UpdateStrategyType::OnDelete,
            rolling_update: None,
        };
        let cases: &[(&str, UpdateStrategy, usize, usize, usize)] = &[
            ("no rollingUpdate", default.clone(), 5, 1, 0),
            ("no rollingUpdate, no hosts", default, 0, 1, 0),
            ("empty rollingUpdate", rolling(None, None), 3, 1, 0),
            ("only maxSurge", rolling(None, Some(int(2))), 3, 1, 2),
            ("25% of 10", unavailable(string("25%")), 10, 3, 0),
            (
                "both 0 is floored to 1",
                rolling(Some(int(0)), Some(int(0))),
                4,
                1,
                0,
            ),
            (
                "both 0%, no hosts",
                rolling(Some(string("0%")), Some(string("0%"))),
                0,
                0,
                0,
            ),
            ("OnDelete", on_delete.clone(), 4, 1, 0),
            ("OnDelete, no hosts", on_delete, 0, 0, 0),
        ];
        for (name, strategy, desired, want_unavailable, want_surge) in cases {
            assert_eq!(
                resolve_budget(strategy, *desired),
                Ok(Budget {
                    max_unavailable: *want_unavailable,
                    max_surge: *want_surge
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn malformed_and_negative_values_are_errors() {
        assert!(matches!(
            resolve_budget(&unavailable(string("ten")), 3),
            Err(BudgetError::MaxUnavailable(_))
        ));
        assert!(matches!(
            resolve_budget(&surge(string("5")), 3),
            Err(BudgetError::MaxSurge(_))
        ));
        assert_eq!(
            resolve_budget(&unavailable(int(-1)), 3),
            Err(BudgetError::Negative {
                field: "maxUnavailable",
                value: -1
            })
        );
        // The message names the field and the value, for the CLI to show as is.
        let err = resolve_budget(&surge(string("x%")), 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for maxSurge: invalid value \"x%\": percentage is not an integer"
        );
    }
}

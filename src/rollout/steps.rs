//! The steps that carry out one wave. While the run holds every host's session from its
//! observe, the whole wave goes at once; when it must connect them again (a run that changes
//! more hosts than it keeps sessions for, `apply::KEEP_CHANGED`), at most --parallel hosts at a
//! time, each step gated before the next: a wave of 10% of 10,000 hosts never holds 1,000
//! sessions, and a step that fails halts the rest of its wave too.

/// `wave` in steps; `connected(i)`: host `i` needs no new session (it holds one, or has
/// nothing left to run).
pub fn wave_steps(
    wave: Vec<usize>,
    connected: impl Fn(usize) -> bool,
    parallel: usize,
) -> Vec<Vec<usize>> {
    if wave.iter().all(|&i| connected(i)) {
        return vec![wave];
    }
    wave.chunks(parallel.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wave_goes_at_once_only_while_its_sessions_are_held() {
        /// (wave, the hosts that need no new session, --parallel, the steps)
        type Row = (
            &'static [usize],
            &'static [usize],
            usize,
            &'static [&'static [usize]],
        );
        let rows: &[Row] = &[
            (&[0, 1, 2, 3, 4], &[0, 1, 2, 3, 4], 2, &[&[0, 1, 2, 3, 4]]),
            (&[0, 1, 2, 3, 4], &[], 2, &[&[0, 1], &[2, 3], &[4]]),
            // One host to connect is enough to pace the whole wave.
            (&[1, 3, 4], &[1, 3], 2, &[&[1, 3], &[4]]),
            (&[0, 1, 2], &[], 64, &[&[0, 1, 2]]),
            (&[0, 1], &[], 0, &[&[0], &[1]]),
            (&[], &[], 2, &[&[]]),
        ];
        for (wave, connected, parallel, want) in rows {
            assert_eq!(
                wave_steps(wave.to_vec(), |i| connected.contains(&i), *parallel),
                want.iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
                "{wave:?} --parallel {parallel}"
            );
        }
    }
}

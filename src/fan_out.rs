//! Per-host work at most `limit` at a time, spawned lazily and handed back as each finishes.
//! A spawned future holds its whole state from the moment it is spawned (kilobytes for an SSH
//! connect), so spawning one task per host up front and gating them on a semaphore costs
//! memory linear in the fleet; here only `limit` exist at once, and results are taken in the
//! order they finish, so a slow host holds back nothing.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinSet;

/// A host's session for one step of a run: the one the run holds, or a connection opened for
/// this step alone (the caller closes it after, keeping its counters).
pub enum Reach<R, F> {
    Held(Arc<R>),
    Connect(F),
}

impl<R, E, F> Reach<R, F>
where
    E: std::fmt::Display,
    F: Future<Output = Result<R, E>>,
{
    /// The held session, or one from `connecting` when none is held.
    pub fn of(held: &Option<Arc<R>>, connecting: impl FnOnce() -> F) -> Self {
        match held {
            Some(remote) => Reach::Held(remote.clone()),
            None => Reach::Connect(connecting()),
        }
    }

    /// The session, and whether it was opened for this step.
    pub async fn open(self) -> Result<(Arc<R>, bool), String> {
        match self {
            Reach::Held(remote) => Ok((remote, false)),
            Reach::Connect(connecting) => connecting
                .await
                .map(|remote| (Arc::new(remote), true))
                .map_err(|e| format!("reconnecting: {e}")),
        }
    }
}

/// Runs each `(index, future)` of `work` on the runtime, at most `limit` at once, and calls
/// `done(index, result)` as each finishes (`Err` if its task panicked or was cancelled).
pub async fn fan_out<T, F>(
    work: impl IntoIterator<Item = (usize, F)>,
    limit: usize,
    mut done: impl FnMut(usize, Result<T, String>),
) where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut work = work.into_iter();
    let mut running = JoinSet::new();
    let mut index = std::collections::HashMap::new();
    loop {
        while running.len() < limit.max(1) {
            let Some((i, future)) = work.next() else {
                break;
            };
            index.insert(running.spawn(future).id(), i);
        }
        let Some(joined) = running.join_next_with_id().await else {
            return;
        };
        match joined {
            Ok((id, value)) => done(index.remove(&id).expect("spawned here"), Ok(value)),
            Err(e) => done(
                index.remove(&e.id()).expect("spawned here"),
                Err(format!("internal error: {e}")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn at_most_limit_at_once_and_in_the_order_they_finish() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // Host i takes (10 - i) seconds: later hosts finish first within each group.
        let work = (0..10).map(|i| {
            let (now, most) = (now.clone(), most.clone());
            (i, async move {
                let at = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(at, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(10 - i as u64)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i * 2
            })
        });
        let mut seen = Vec::new();
        fan_out(work, 3, |i, r| seen.push((i, r.unwrap()))).await;
        assert_eq!(most.load(Ordering::SeqCst), 3, "never more than the limit");
        assert_eq!(seen.len(), 10);
        assert!(
            seen.iter().all(|(i, v)| *v == i * 2),
            "each result under its index"
        );
        assert_eq!(
            seen[0].0, 2,
            "the quickest of the first three finishes first"
        );
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_error_under_its_own_index() {
        let work = (0..3).map(|i| {
            (i, async move {
                assert!(i != 1, "boom");
                i
            })
        });
        let mut seen = Vec::new();
        fan_out(work, 8, |i, r| seen.push((i, r.is_ok()))).await;
        seen.sort();
        assert_eq!(seen, vec![(0, true), (1, false), (2, true)]);
    }

    #[tokio::test]
    async fn nothing_to_do_returns_at_once() {
        let work: Vec<(usize, std::future::Ready<()>)> = Vec::new();
        fan_out(work, 0, |_, _| panic!("nothing ran")).await;
    }
}

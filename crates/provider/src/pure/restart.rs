//! The restart policy, shared by every runtime: the host runtime's supervisors apply it to their
//! replica, and the reconcile plan applies it to replicas a runtime reports exited.

use std::time::Duration;

/// A run shorter than this that ends counts towards the crash loop.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// Exit codes of the sandbox's init that no restart can fix (nothing to run, not found).
pub const PERMANENT_EXITS: [i32; 2] = [126, 127];

/// What the supervisor decides after a replica's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterExit {
    Restart { backoff: Duration },
    Fail(String),
}

/// The restart policy, as a pure function: `crashes` counts runs in a row that ended within
/// [`CRASH_WINDOW`] (this one included); `reason` is how this one ended.
pub fn after_exit(crashes: u32, max_restarts: u32, code: Option<i32>, reason: &str, sandbox_error: bool) -> AfterExit {
    if sandbox_error {
        return AfterExit::Fail(format!("the sandbox cannot start: {reason}"));
    }
    if code.is_some_and(|c| PERMANENT_EXITS.contains(&c)) {
        return AfterExit::Fail(reason.to_string());
    }
    if crashes >= max_restarts.max(1) {
        return AfterExit::Fail(format!(
            "crash loop: {crashes} exits in a row, each within {} s of starting; last: {reason}",
            CRASH_WINDOW.as_secs()
        ));
    }
    // 0.5 s, 1 s, 2 s, … 30 s.
    let backoff = Duration::from_millis(500).saturating_mul(1 << crashes.saturating_sub(1).min(6));
    AfterExit::Restart { backoff: backoff.min(Duration::from_secs(30)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loop_fails_after_the_limit_and_backs_off_in_between() {
        let mut waits = Vec::new();
        for crashes in 1..5 {
            match after_exit(crashes, 5, Some(3), "exited (exit status: 3)", false) {
                AfterExit::Restart { backoff } => waits.push(backoff.as_millis()),
                AfterExit::Fail(why) => panic!("failed early: {why}"),
            }
        }
        assert_eq!(waits, vec![500, 1000, 2000, 4000]);
        let AfterExit::Fail(why) = after_exit(5, 5, Some(3), "exited (exit status: 3): boom", false) else {
            panic!("a fifth crash in a row must fail the replica")
        };
        assert!(why.starts_with("crash loop: 5 exits in a row") && why.ends_with("boom"), "{why}");
        // Back-off is capped.
        assert_eq!(after_exit(9, 100, Some(1), "x", false), AfterExit::Restart { backoff: Duration::from_secs(30) });
    }

    #[test]
    fn failures_no_restart_can_fix_fail_at_once() {
        for code in [126, 127] {
            assert!(matches!(after_exit(1, 5, Some(code), "stratus: cannot run x", false), AfterExit::Fail(_)));
        }
        let AfterExit::Fail(why) = after_exit(1, 5, Some(1), "bwrap: Can't mkdir /usr/x", true) else {
            panic!("a sandbox that cannot be built is not retried")
        };
        assert!(why.starts_with("the sandbox cannot start"), "{why}");
    }
}

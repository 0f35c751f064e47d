//! Stopping long work early: the caller's cancellation or deadline, checked before scoring and
//! between chunks of `pool::PARALLEL_CHUNK` accounts (milliseconds of work each).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A cancellation flag and an optional deadline, shared by the caller and the work.
#[derive(Debug, Default)]
pub struct Cancel {
    cancelled: AtomicBool,
    deadline: Option<Instant>,
}

/// Work nobody can stop.
pub static NEVER: Cancel = Cancel {
    cancelled: AtomicBool::new(false),
    deadline: None,
};

impl Cancel {
    /// A flag not yet raised, with a deadline `within` from now (None: no deadline). A deadline
    /// later than the clock can represent is no deadline.
    pub fn new(within: Option<Duration>) -> Self {
        Self {
            cancelled: AtomicBool::new(false),
            deadline: within.and_then(|d| Instant::now().checked_add(d)),
        }
    }

    /// `new` for a timeout in seconds as a caller gives it: negative means already expired,
    /// infinite or past what the clock can represent means none. NaN is refused.
    pub fn with_timeout_seconds(seconds: Option<f64>) -> Result<Self> {
        let within = match seconds {
            None => None,
            Some(s) if s.is_nan() => {
                return Err(Error::Malformed(
                    "timeout_seconds is NaN: give seconds, or None for no deadline".into(),
                ))
            }
            // `try_from_secs_f64` refuses +inf and values past u64::MAX seconds: no deadline.
            Some(s) => Duration::try_from_secs_f64(s.max(0.0)).ok(),
        };
        Ok(Self::new(within))
    }

    /// Asks the work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// `Err` once cancelled or past the deadline.
    pub fn check(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(Error::DeadlineExceeded),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_deadlines() {
        assert!(NEVER.check().is_ok());
        let c = Cancel::new(None);
        assert!(c.check().is_ok());
        c.cancel();
        assert!(matches!(c.check(), Err(Error::Cancelled)));
        let d = Cancel::new(Some(Duration::ZERO));
        assert!(matches!(d.check(), Err(Error::DeadlineExceeded)));
        assert!(Cancel::new(Some(Duration::from_secs(3600))).check().is_ok());
    }

    #[test]
    fn any_timeout_is_a_deadline_or_none_never_a_panic() {
        let never = |s: f64| {
            Cancel::with_timeout_seconds(Some(s))
                .unwrap()
                .deadline
                .is_none()
        };
        for s in [
            1e300,
            f64::MAX,
            f64::INFINITY,
            1.8e19,
            u64::MAX as f64 * 2.0,
        ] {
            assert!(never(s), "{s}");
        }
        // u64::MAX seconds fits a Duration but not an Instant: no deadline either.
        assert!(Cancel::new(Some(Duration::MAX)).deadline.is_none());
        for s in [-1.0, -1e300, f64::NEG_INFINITY, -0.0, 0.0] {
            let c = Cancel::with_timeout_seconds(Some(s)).unwrap();
            assert!(matches!(c.check(), Err(Error::DeadlineExceeded)), "{s}");
        }
        assert!(Cancel::with_timeout_seconds(Some(3600.0))
            .unwrap()
            .check()
            .is_ok());
        assert!(Cancel::with_timeout_seconds(None).unwrap().check().is_ok());
        assert!(matches!(
            Cancel::with_timeout_seconds(Some(f64::NAN)),
            Err(Error::Malformed(_))
        ));
    }
}

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
    /// A flag not yet raised, with a deadline `within` from now (None: no deadline).
    pub fn new(within: Option<Duration>) -> Self {
        Self {
            cancelled: AtomicBool::new(false),
            deadline: within.map(|d| Instant::now() + d),
        }
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
}

//! The crate's one error type. It becomes a Python exception only at the PyO3 edge.

use std::fmt;

/// One problem with one field of the input, named by its exact path,
/// e.g. `profiles[2].metrics[1].good.all.of[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field path, in proto field names, from the root of the input message.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ruleset does not validate; every violation is listed.
    #[error("invalid ruleset: {}", join(.0))]
    InvalidRuleset(Vec<Violation>),
    /// Account data that cannot be scored (wrong types, undeclared levels, infinities,
    /// duplicate ids, ...); every offending account and attribute is listed.
    #[error("invalid accounts: {}", join(.0))]
    InvalidAccounts(Vec<Violation>),
    /// Bytes that are not the expected protobuf message, or an Arrow batch of the wrong shape.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The work needs more memory than can be had: a size asked for (an argument, or a count
    /// read from the input) whose allocation fails or cannot exist. Never an abort.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The caller cancelled the work.
    #[error("cancelled")]
    Cancelled,
    /// The caller's deadline passed before the work was done.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A bug: a broken invariant or a caught panic.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The violations carried by the error, if it is of a kind that has them.
    pub fn violations(&self) -> &[Violation] {
        match self {
            Error::InvalidRuleset(v) | Error::InvalidAccounts(v) => v,
            _ => &[],
        }
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Malformed(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

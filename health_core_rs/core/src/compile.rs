//! Validation and compilation of a ruleset (SPEC §1-§5): proto in, `CompiledRuleset` out.

use crate::error::{Error, Result};
use crate::ir::CompiledRuleset;
use crate::proto;

/// Validates `ruleset` against every rule of SPEC.md and compiles it. On failure the error lists
/// every violation with its exact path.
pub fn compile(ruleset: &proto::Ruleset) -> Result<CompiledRuleset> {
    let _ = ruleset;
    Err(Error::Internal("compile: not implemented yet".into()))
}

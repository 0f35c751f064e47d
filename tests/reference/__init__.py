"""A plain, readable, pure-Python reference implementation of SPEC.md + docs/semantics.md.

It is written from the documents (not from the Rust core) and is the oracle of the
differential tests: the engine must agree with it on every field of every result.

It assumes that the ruleset is valid and the accounts are good; on input it does not handle
it raises `ReferenceUnsupported` instead of guessing.
"""

from .enterprise import roll_up
from .model import DAY_NS, ReferenceUnsupported, round_half_up, score

__all__ = ["DAY_NS", "ReferenceUnsupported", "roll_up", "round_half_up", "score"]

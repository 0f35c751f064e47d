"""Type stub of the native module built from health_core_rs/python (checked by stubtest)."""

from typing import final

__all__ = [
    "CompiledRuleset",
    "CoreError",
    "InternalError",
    "InvalidAccountsError",
    "InvalidRulesetError",
    "MalformedInputError",
    "__version__",
    "_panic_for_test",
    "build_profile",
    "compile_ruleset",
    "roll_up_enterprise_health",
]

__version__: str
build_profile: str

class CoreError(Exception): ...
class InvalidRulesetError(CoreError): ...
class InvalidAccountsError(CoreError): ...
class MalformedInputError(CoreError): ...
class InternalError(CoreError): ...

@final
class CompiledRuleset:
    @property
    def warnings(self) -> list[tuple[str, str]]: ...
    @property
    def version(self) -> str: ...
    @property
    def model(self) -> int: ...
    def score(self, request: bytes) -> bytes: ...
    def score_arrow(
        self,
        schema_capsule: object,
        array_capsule: object,
        as_of_unix_nanos: int,
        view: int,
        threads: int | None = None,
    ) -> tuple[object, object]: ...

def compile_ruleset(ruleset: bytes) -> CompiledRuleset: ...
def roll_up_enterprise_health(request: bytes) -> bytes: ...
def request_options(request: bytes) -> tuple[str, bool, str, int]: ...
def retag_results(response: bytes, field: int) -> bytes: ...
def _panic_for_test() -> None: ...

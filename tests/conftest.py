"""Shared test configuration: Hypothesis profiles and a count of differential cases."""

import os

import pytest
from hypothesis import HealthCheck, settings

# A real PostgreSQL for the store and replica tests: `postgres_admin_url`, `database_url`.
from tests.postgres import database_url, postgres_admin_url  # noqa: F401

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# Per-test max_examples come from `strategies.examples()`; the profiles set the rest.
settings.register_profile("default", deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=_SUPPRESS
)
# `make test-deep`: every property test's full budget, fresh random cases each run.
settings.register_profile("deep", deadline=None, print_blob=True, suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_CASES = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[_CASES] = {}


@pytest.fixture(scope="session")
def differential_cases(request):
    """A {test kind: number of cases run} counter, printed in the terminal summary."""
    return request.config.stash[_CASES]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    cases = config.stash.get(_CASES, {})
    if cases:
        terminalreporter.section("differential cases")
        for kind, n in sorted(cases.items()):
            terminalreporter.write_line(f"{kind}: {n}")
        terminalreporter.write_line(f"total: {sum(cases.values())}")


# Under pytest-xdist each worker counts its own cases; the controller adds them up.
def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["differential_cases"] = dict(session.config.stash.get(_CASES, {}))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    totals = node.config.stash[_CASES]
    for kind, n in getattr(node, "workeroutput", {}).get("differential_cases", {}).items():
        totals[kind] = totals.get(kind, 0) + n


# Servers started by tests stop at once on SIGTERM: no load balancer to wait for. Tests of the
# drain delay pass --drain-seconds.
os.environ.setdefault("HEALTHSCORE_DRAIN_SECONDS", "0")

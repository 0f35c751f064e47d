"""`healthscore` admin commands: talk to a running server through the Python SDK.

`design.py` owns the profile-design commands (profiles export/import/validate/diff, publish,
activate, rollback, versions, activations); `scoring.py` the scoring commands against a server
(score, preview, hierarchy); `history.py` the history commands (snapshot, snapshots, trend);
`portfolio.py` the portfolio summary and its accounts;
`accounts.py` stored accounts' current health (health); `common.py` what they share
(connection flags, output, exit codes).
"""

from __future__ import annotations

import argparse

from healthscore.admin import accounts, design, history, portfolio, scoring


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    design.add_parsers(commands)
    scoring.add_parsers(commands)
    history.add_parsers(commands)
    portfolio.add_parsers(commands)
    accounts.add_parsers(commands)

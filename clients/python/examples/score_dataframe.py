"""Scores the accounts of a CSV file (one row per account) and prints each account's rank.

    python clients/python/examples/score_dataframe.py accounts.csv [--server host:port]

Needs the `pandas` extra; the token comes from HEALTHSCORE_TOKEN when the server asks for one.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

from healthscore_client import HealthScoreClient, HealthScoreError
from healthscore_client.v1 import health_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("accounts", help="CSV file with an `id` column and attribute columns")
    parser.add_argument("--server", default="127.0.0.1:50051")
    args = parser.parse_args()

    frame = pd.read_csv(args.accounts)
    with HealthScoreClient(args.server, token=os.environ.get("HEALTHSCORE_TOKEN")) as client:
        try:
            # pandas reads numbers and true/false; the catalog picks the attribute columns and
            # reads the CSV's ISO 8601 times, which pandas leaves as text.
            response = client.score_accounts(frame, catalog=client.get_catalog())
        except HealthScoreError as error:
            print(f"error: {error}")
            for violation in error.field_violations:
                print(f"  {violation.field}: {violation.description}")
            return 1
    print(f"scored with {response.ruleset}")
    for result in response.results:
        rank = health_pb2.HealthRank.Name(result.rank).removeprefix("HEALTH_RANK_")
        print(
            f"{result.account_id:>12}  {rank:<8} {result.score if result.HasField('score') else ''}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

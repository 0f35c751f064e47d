"""A separate process writing account data, for the kill -9 tests.

`python -m tests.accounts.worker loop DATA_DIR`: writes batch after batch (batch k: 100 records of
accounts `acct-…` observed at `BASE + k ms + i µs`) and prints `ack k` once a write returned, until
killed. `python -m tests.accounts.worker once DATA_DIR`: one batch (k = 0); with
`HEALTHSCORE_STORE_CRASH=write_data:<point>` the process kills itself inside it.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from healthscore.domain.accounts import AccountData
from healthscore.server.app import App
from healthscore_client.v1 import account_service_pb2

BATCH = 100
ACCOUNTS = 300
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
BASE = NOW - dt.timedelta(days=30)
BASE_US = int(BASE.timestamp()) * 1_000_000


def batch(k: int) -> account_service_pb2.WriteAccountDataRequest:
    request = account_service_pb2.WriteAccountDataRequest()
    for i in range(BATCH):
        record = request.records.add(account_id=f"acct-{(k * 37 + i) % ACCOUNTS}")
        record.observe_time.FromDatetime(BASE + dt.timedelta(milliseconds=k, microseconds=i))
        record.attributes["engagement_score"].number_value = float(k % 100)
    return request


def main(command: str, data_dir: str) -> None:
    app = App.open(Path(data_dir))
    assert app.account_store is not None
    data = AccountData(app.account_store, app.registry, clock=lambda: NOW)
    if command == "once":
        data.write(batch(0))
        print("ack 0", flush=True)
        return
    k = 0
    while True:
        data.write(batch(k))
        print(f"ack {k}", flush=True)
        k += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

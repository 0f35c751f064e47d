"""A process that snapshots a day from a slow source, for the kill -9 test: it touches `MARKER`
once the source has given part of the day (`early`) or all of it (`late`: the writer is then
finishing its files and committing), and goes on until killed.

    python -m tests.history.snapshot_child DATA_DIR DAY MARKER early|late
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from benchmarks.history_data import SyntheticHealth
from healthscore.history.snapshot import History, HistoryConfig

ACCOUNTS = 30_000


class SlowSource:
    def __init__(self, marker: Path, late: bool) -> None:
        self.marker = marker
        self.late = late

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
        health = SyntheticHealth(ACCOUNTS)
        for n, batch in enumerate(health.iter_current_health(day, 1000)):
            yield batch
            if n == 5 and not self.late:
                self.marker.touch()
            time.sleep(0.01)
        if self.late:
            self.marker.touch()


def main() -> None:
    data_dir, day, marker = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
    source = SlowSource(marker, late=sys.argv[4] == "late")
    History(HistoryConfig(), data_dir, source).snapshot(day)
    time.sleep(60)  # killed here at the latest


if __name__ == "__main__":
    main()

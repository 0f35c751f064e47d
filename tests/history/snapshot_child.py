"""A process that snapshots a day from a slow source, for the kill -9 test: it touches `MARKER`
once part of the day is written, then keeps writing until killed.

    python -m tests.history.snapshot_child DATA_DIR DAY MARKER
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


class SlowSource:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
        health = SyntheticHealth(100_000)
        for n, batch in enumerate(health.iter_current_health(day, 1000)):
            yield batch
            if n == 5:
                self.marker.touch()
            time.sleep(0.05)


def main() -> None:
    data_dir, day, marker = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
    History(HistoryConfig(), data_dir, SlowSource(marker)).snapshot(day)


if __name__ == "__main__":
    main()

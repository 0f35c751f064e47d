"""Every benchmark, one after the other: `python -m benchmarks` (core, service, rescore,
intake).

Each prints its table and writes its `benchmarks/results/*.json`; flags go to none of them (run a
single one, e.g. `python -m benchmarks.core --help`, to set its own)."""

from __future__ import annotations

import sys

from benchmarks import core, intake, rescore, service


def main() -> int:
    for bench in (core, service, rescore, intake):
        print(f"== benchmarks.{bench.__name__.rsplit('.', 1)[-1]}", flush=True)
        code = bench.main([])
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())

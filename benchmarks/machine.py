"""The machine a benchmark ran on, for its report. Imports nothing with side effects:
`benchmarks.core` pins Polars to one thread at import, which the rescore benchmark's all-core
Polars script must not inherit."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"

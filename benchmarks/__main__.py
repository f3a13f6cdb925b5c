"""Run every benchmark in one process, one after another, and print their Markdown tables.

    python -m benchmarks            # all
    python -m benchmarks execute    # just one (module benchmarks/bench_<name>.py)
"""

from __future__ import annotations

import importlib
import sys

NAMES = ("execute", "notebooks", "cells", "detect", "setup", "reuse", "monitor")


def main(argv: list[str]) -> int:
    names = argv or list(NAMES)
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n## {name}\n", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

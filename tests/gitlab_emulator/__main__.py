"""`python -m tests.gitlab_emulator --port 0 --state-file seed.json --print-url`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .emulator import GitLabEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gitlab_emulator",
                                     description="Serve the GitLab API emulator until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--state-file", help="seed document (JSON), see docs/testing.md")
    parser.add_argument("--print-url", action="store_true",
                        help="print the base URL as the first line of stdout")
    args = parser.parse_args(argv)
    emu = GitLabEmulator.start(args.host, args.port)
    if args.state_file:
        with open(args.state_file, encoding="utf-8") as handle:
            emu.seed(json.load(handle))
    if args.print_url:
        print(emu.url, flush=True)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

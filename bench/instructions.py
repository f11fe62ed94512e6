"""Instructions the bot executes per update in process: a figure a busy machine does not move.

    python bench/instructions.py [--small 500] [--large 2500]

Runs `bench/inproc.py` under valgrind's cachegrind (no cache simulation) twice, with `--small`
and with `--large` updates, and prints the difference in instructions over the difference in
updates: start-up (imports, the knowledge base) cancels out. Two commits compare on it where
CPU time on a shared machine moves by 20 %. It does not see cache misses (docs/performance.md,
*Fourth profile*). Needs `valgrind` on the PATH; each run takes about 12 times its normal time.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

INPROC = Path(__file__).with_name("inproc.py")
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
VALGRIND = (
    "valgrind",
    "--tool=cachegrind",
    "--cache-sim=no",  # instructions only: about 12 times slower than a plain run
    "--cachegrind-out-file=/dev/null",
)


def measure(updates: int) -> tuple[int, int]:
    """Return (instructions, updates completed) of one in-process run."""
    command = [*VALGRIND, sys.executable, str(INPROC), "--updates", str(updates)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = REFS.search(done.stderr)
    if found is None:
        raise RuntimeError("cachegrind printed no instruction count")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return int(found.group(1).replace(",", "")), int(figures["updates"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2_500)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.stderr.write("valgrind is not installed (apt install valgrind)\n")
        return 2
    small, small_updates = measure(args.small)
    large, large_updates = measure(args.large)
    per_update = (large - small) / (large_updates - small_updates)
    print(json.dumps({"instructions_per_update": round(per_update)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's trivial Python worker (bench/pool.sh): a pool process serving `pynoop` through
examples/workers/python/fleet_worker.py, or, with --once, the same program run once per task by
`exec` (prints the same result and exits)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "workers", "python"))
from fleet_worker import serve  # noqa: E402


def pynoop(data, ctx):
    return {"ok": True}


if __name__ == "__main__":
    if sys.argv[1:] == ["--once"]:
        print(json.dumps(pynoop({}, None)))
    else:
        serve({"pynoop": pynoop})

"""Checks examples/workers/python/fleet_worker.py as fleetd drives it with pool.NAME.in-flight > 1:
requests that arrive together are all answered, in order, and an answer never waits behind a
handler of a type not seen before (one that may be slow). Run by tests/e2e/pool_test.cpp; exits 0
when every check holds, else prints what failed and exits 1."""

import json
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "..", "..", "examples", "workers", "python")

WORKER = r'''
import os, sys, time
sys.path.insert(0, sys.argv[1])
from fleet_worker import serve

def fast(data, ctx):
    return {"n": data["n"]}

def gated(data, ctx):
    # Waits until the test has seen the answers sent before this request (or gives up, so that a
    # failed test leaves nothing running).
    deadline = time.monotonic() + 180
    while not os.path.exists(data["gate"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"gated": True}

serve({"fast": fast, "gated": gated})
'''


def main():
    signal.alarm(int(os.environ.get("FLEET_TEST_DEADLINE_S", "120")))  # a held answer fails, never hangs
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        gate = os.path.join(tmp, "gate")
        worker = subprocess.Popen([sys.executable, "-c", WORKER, HELPER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        requests = [{"id": "a%d" % i, "type": "fast", "data": {"n": i}} for i in range(5)]
        requests.append({"id": "g", "type": "gated", "data": {"gate": gate}})
        requests.append({"id": "after", "type": "fast", "data": {"n": 99}})
        # One write: what fleetd does when it hands a process several requests at once.
        worker.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        worker.stdin.flush()
        got = [json.loads(worker.stdout.readline()) for _ in range(5)]
        if [g["id"] for g in got] != ["a%d" % i for i in range(5)]:
            failures.append("the first answers: %r" % got)
        if [g.get("result") for g in got] != [{"n": i} for i in range(5)]:
            failures.append("their results: %r" % got)
        open(gate, "w").close()  # only now may the gated handler end
        rest = [json.loads(worker.stdout.readline()) for _ in range(2)]
        if [r["id"] for r in rest] != ["g", "after"] or not all(r["ok"] for r in rest):
            failures.append("the answers after the gate: %r" % rest)
        worker.stdin.close()
        if worker.wait(timeout=60) != 0:
            failures.append("the worker exited with %d" % worker.returncode)
    for f in failures:
        print("FAILED:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

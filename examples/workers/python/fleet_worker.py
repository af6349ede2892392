"""A fleetd pool worker in Python, standard library only (docs/WORKER-PROTOCOL.md).

    from fleet_worker import serve, Fail

    def resize(data, ctx):
        ctx.progress(0.5, "decoded")
        if "path" not in data:
            raise Fail("needs a path", retry=False)   # fails the task at once
        return {"width": 160}                         # the task's result

    serve({"resize": resize})

A handler gets the task's data and a context (id, task_id, batch_id, type, attempt, deadline_ms,
deps: the results of the tasks it runs after by task id, progress()). What it returns is the result; Fail(message, retry) fails the attempt; any other
exception fails it too (and the task is retried by the fleet's rules). print() goes to stderr,
which fleetd logs: stdout belongs to the protocol.
"""

import json
import os
import sys
import time
import traceback


class Fail(Exception):
    """Fails the attempt with `message`; retry=False fails the task at once."""

    def __init__(self, message, retry=True):
        super().__init__(message)
        self.message = str(message)
        self.retry = retry


class Context:
    def __init__(self, msg, out):
        self.id = msg["id"]
        self.task_id = msg.get("task_id", "")
        self.batch_id = msg.get("batch_id", "")
        self.type = msg.get("type", "")
        self.attempt = msg.get("attempt", 1)
        self.deadline_ms = msg.get("deadline_ms", 0)
        self.deps = msg.get("deps", {})
        self._out = out

    def progress(self, fraction, note=None):
        line = {"id": self.id, "progress": min(1.0, max(0.0, float(fraction)))}
        if note is not None:
            line["note"] = str(note)
        self._out(line)


def _request_batches(stdin):
    """The requests waiting when the worker looks, as lists of lines: all that one read of stdin
    brings (fleetd may hand a process several, pool.NAME.in-flight), or one line of a given stream."""
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None or stdin is not sys.stdin:
        for line in stdin:
            yield [line]
        return
    pending = bytearray()
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if pending.strip():
                yield [bytes(pending)]
            return
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, rest = pending.split(b"\n")
        pending = bytearray(rest)
        yield lines


def serve(handlers, stdin=None, stdout=None):
    """Answers fleetd's requests with `handlers` (task type -> function(data, ctx)) until stdin ends."""
    stdin = stdin or sys.stdin
    out_stream = stdout or sys.stdout
    # Anything the handlers print goes to stderr, so that it cannot break the protocol.
    sys.stdout = sys.stderr

    # Answers not yet written, sent in one write (also where PYTHONUNBUFFERED would write each).
    unsent = []

    def write(obj):
        unsent.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

    def flush():
        if unsent:
            out_stream.write("".join(unsent))
            out_stream.flush()
            unsent.clear()

    def progress(obj):  # at once: it tells how far a running attempt is
        write(obj)
        flush()

    # How long each type's handler takes (a moving average, seconds): the answers of requests that
    # arrived together leave in one write, and wait only behind handlers that are usually fast.
    typical = {}
    for batch in _request_batches(stdin):
        for line in batch:
            if not line.strip():
                continue
            msg = json.loads(line)
            ctx = Context(msg, progress)
            if typical.get(ctx.type, 1.0) > 0.001:
                flush()
            handler = handlers.get(ctx.type)
            began = time.monotonic()
            try:
                if handler is None:
                    raise Fail("this worker has no handler for type %r" % ctx.type, retry=False)
                result = handler(msg.get("data"), ctx)
                write({"id": ctx.id, "ok": True, "result": result})
            except Fail as f:
                write({"id": ctx.id, "ok": False, "error": f.message, "retry": f.retry})
            except Exception as e:  # noqa: BLE001 - every failure of a handler is the attempt's
                traceback.print_exc(file=sys.stderr)
                write({"id": ctx.id, "ok": False, "error": "%s: %s" % (type(e).__name__, e)})
            took = time.monotonic() - began
            typical[ctx.type] = took if ctx.type not in typical else 0.8 * typical[ctx.type] + 0.2 * took
        flush()

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
import sys
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


def serve(handlers, stdin=None, stdout=None):
    """Answers fleetd's requests with `handlers` (task type -> function(data, ctx)) until stdin ends."""
    stdin = stdin or sys.stdin
    out_stream = stdout or sys.stdout
    # Anything the handlers print goes to stderr, so that it cannot break the protocol.
    sys.stdout = sys.stderr

    def out(obj):
        out_stream.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        out_stream.flush()

    for line in stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        ctx = Context(msg, out)
        handler = handlers.get(ctx.type)
        try:
            if handler is None:
                raise Fail("this worker has no handler for type %r" % ctx.type, retry=False)
            result = handler(msg.get("data"), ctx)
            out({"id": ctx.id, "ok": True, "result": result})
        except Fail as f:
            out({"id": ctx.id, "ok": False, "error": f.message, "retry": f.retry})
        except Exception as e:  # noqa: BLE001 - every failure of a handler is the attempt's
            traceback.print_exc(file=sys.stderr)
            out({"id": ctx.id, "ok": False, "error": "%s: %s" % (type(e).__name__, e)})

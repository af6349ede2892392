"""An example pool worker: `wordcount` and `shout`. Declare it in fleetd's config file:

    [pool.python]
    argv=["python3", "examples/workers/python/example_worker.py"]
    types=["wordcount", "shout"]
    size=2
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet_worker import Fail, serve  # noqa: E402


def wordcount(data, ctx):
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise Fail('needs {"text": STRING}', retry=False)
    words = data["text"].split()
    ctx.progress(1.0, "counted")
    return {"words": len(words), "pid": os.getpid()}


def shout(data, ctx):
    # ctx.deps: the results of the tasks it runs after ("after"), by task id.
    return {"text": str(data.get("text", "")).upper(), "attempt": ctx.attempt, "after": ctx.deps}


serve({"wordcount": wordcount, "shout": shout})

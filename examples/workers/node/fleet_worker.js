// A fleetd pool worker in Node.js, no dependencies (docs/WORKER-PROTOCOL.md).
//
//   const { serve, Fail } = require('./fleet_worker');
//   serve({
//     resize: async (data, ctx) => {
//       ctx.progress(0.5, 'decoded');
//       if (!data.path) throw new Fail('needs a path', false);  // fails the task at once
//       return { width: 160 };                                  // the task's result
//     },
//   });
//
// A handler gets the task's data and a context (id, taskId, batchId, type, attempt, deadlineMs,
// deps: the results of the tasks it runs after by task id, progress()). What it returns (or resolves to) is the result; Fail(message, retry) fails the
// attempt; any other error fails it too (retried by the fleet's rules). console.log goes to
// stderr, which fleetd logs: stdout belongs to the protocol.
'use strict';

const readline = require('readline');

class Fail extends Error {
  constructor(message, retry = true) {
    super(String(message));
    this.retry = retry;
  }
}

function serve(handlers) {
  const stdout = process.stdout;
  const out = (obj) => stdout.write(JSON.stringify(obj) + '\n');
  console.log = console.error; // anything a handler prints must not break the protocol
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  let previous = Promise.resolve(); // one attempt at a time, in order
  lines.on('line', (line) => {
    if (!line.trim()) return;
    previous = previous.then(async () => {
      const msg = JSON.parse(line);
      const ctx = {
        id: msg.id,
        taskId: msg.task_id,
        batchId: msg.batch_id,
        type: msg.type,
        attempt: msg.attempt,
        deadlineMs: msg.deadline_ms,
        deps: msg.deps ?? {},
        progress(fraction, note) {
          const p = { id: msg.id, progress: Math.min(1, Math.max(0, Number(fraction))) };
          if (note !== undefined) p.note = String(note);
          out(p);
        },
      };
      const handler = handlers[msg.type];
      try {
        if (!handler) throw new Fail(`this worker has no handler for type ${JSON.stringify(msg.type)}`, false);
        const result = await handler(msg.data, ctx);
        out({ id: msg.id, ok: true, result: result === undefined ? null : result });
      } catch (e) {
        if (e instanceof Fail) {
          out({ id: msg.id, ok: false, error: e.message, retry: e.retry });
        } else {
          console.error((e && e.stack) || String(e));
          out({ id: msg.id, ok: false, error: `${(e && e.name) || 'Error'}: ${(e && e.message) || e}` });
        }
      }
    });
  });
}

module.exports = { serve, Fail };

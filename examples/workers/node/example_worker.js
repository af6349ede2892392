// An example pool worker: `wordcount` and `shout`. Declare it in fleetd's config file:
//
//   [pool.node]
//   argv=["node", "examples/workers/node/example_worker.js"]
//   types=["wordcount", "shout"]
//   size=2
'use strict';

const { serve, Fail } = require('./fleet_worker');

serve({
  wordcount: (data, ctx) => {
    if (!data || typeof data.text !== 'string') throw new Fail('needs {"text": STRING}', false);
    ctx.progress(1, 'counted');
    return { words: data.text.split(/\s+/).filter(Boolean).length, pid: process.pid };
  },
  // ctx.deps: the results of the tasks it runs after ("after"), by task id.
  shout: async (data, ctx) => ({ text: String((data && data.text) || '').toUpperCase(), attempt: ctx.attempt, after: ctx.deps }),
});

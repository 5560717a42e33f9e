// The queue consumer under miniflare (workerd), for the tests and the benchmark.
//
// Runs two Workers: `probe` (the entry point: POST /send puts messages on the inbox queue,
// GET /dead lists what reached the dead-letter queue) and `consumer` (src/worker.js, with
// the queue settings of wrangler.toml). Configuration comes from the environment, never
// from the command line (the secret is one of them):
//   WEBHOOK_URL, WEBHOOK_SECRET   the consumer's var and secret
//   CONSUMER_VARS                 JSON: the other vars (MAX_KEYS_PER_REQUEST, ...)
//   CONSUMER_QUEUE                JSON: {queue, max_batch_size, max_batch_timeout,
//                                 max_retries, dead_letter_queue} (wrangler.toml's keys)
//   COMPATIBILITY_DATE            wrangler.toml's compatibility_date
// Prints one line `{"url": ...}` once ready, then the Workers' log lines; stops when its
// stdin closes.
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";

const queue = JSON.parse(process.env.CONSUMER_QUEUE);
const vars = JSON.parse(process.env.CONSUMER_VARS || "{}");

const PROBE = `
const dead = [];
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/send" && request.method === "POST") {
      const { bodies } = await request.json();
      for (let i = 0; i < bodies.length; i += 100) {
        await env.INBOX.sendBatch(bodies.slice(i, i + 100).map((body) => ({ body })));
      }
      return Response.json({ sent: bodies.length });
    }
    if (path === "/dead") return Response.json(dead);
    return new Response("not found", { status: 404 });
  },
  async queue(batch) {
    for (const m of batch.messages) { dead.push(m.body); m.ack(); }
  },
};
`;

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  workers: [
    {
      name: "probe",
      modules: true,
      script: PROBE,
      compatibilityDate: process.env.COMPATIBILITY_DATE,
      queueProducers: { INBOX: queue.queue },
      queueConsumers: { [queue.dead_letter_queue]: { maxBatchTimeout: 0 } },
    },
    {
      name: "consumer",
      modules: true,
      scriptPath: fileURLToPath(new URL("../src/worker.js", import.meta.url)),
      compatibilityDate: process.env.COMPATIBILITY_DATE,
      bindings: {
        ...vars,
        WEBHOOK_URL: process.env.WEBHOOK_URL,
        WEBHOOK_SECRET: process.env.WEBHOOK_SECRET,
      },
      queueProducers: { DEAD_LETTERS: queue.dead_letter_queue },
      queueConsumers: {
        [queue.queue]: {
          maxBatchSize: queue.max_batch_size,
          maxBatchTimeout: queue.max_batch_timeout,
          maxRetries: queue.max_retries,
          deadLetterQueue: queue.dead_letter_queue,
        },
      },
    },
  ],
});

const url = await mf.ready;
process.stdout.write(JSON.stringify({ url: url.href }) + "\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await mf.dispose();
  process.exit(0);
});

/**
 * The queue consumer: R2 event notifications in, signed webhook requests out.
 *
 * R2 sends its event notifications only to a Cloudflare Queue. This Worker consumes that
 * queue and forwards each batch to reelpipe's webhook (`POST /events` of `reelpipe serve`
 * or of the Modal app's `webhook`), signed as the webhook checks it
 * (pipeline/service/webhook.py): `X-Reelpipe-Timestamp` is the Unix time and
 * `X-Reelpipe-Signature` is `sha256=` + the hex HMAC-SHA256 of `"{timestamp}.{body}"`,
 * keyed with the Worker secret `WEBHOOK_SECRET`.
 *
 * Per message, by what the webhook answered for the request that carried it:
 *   2xx                    ack (the webhook claimed it, or it was already claimed: one job)
 *   5xx, 429, timeout,     retry with a growing delay (RETRY_BASE_DELAY_S doubled per attempt,
 *   a network error        at least Retry-After); after max_retries the queue dead-letters it
 *   any other 4xx          a bad signature or a body the webhook refuses: sent to the
 *                          dead-letter queue at once (binding DEAD_LETTERS), with a log line
 *   not an R2 notification dead-lettered without a request
 *
 * A batch goes out in requests of at most MAX_KEYS_PER_REQUEST messages (keep it at or
 * under the webhook's REELPIPE_WEBHOOK_CLAIM_QUEUE, 64 by default, or it answers 503).
 * Delivery is at least once; the webhook makes a message delivered twice one job (the job's
 * id comes from the manifest's key and ETag).
 */

const encoder = new TextEncoder();

const DEFAULTS = {
  MAX_KEYS_PER_REQUEST: 50,
  FORWARD_TIMEOUT_MS: 20000,
  RETRY_BASE_DELAY_S: 5,
  RETRY_MAX_DELAY_S: 3600,
};

/** The number setting `name` of `env` (a wrangler var), or its default. */
function setting(env, name) {
  const raw = env[name];
  const value = raw === undefined || raw === "" ? DEFAULTS[name] : Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative number`);
  }
  return value;
}

/** `sha256=<hex>`: the HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`. */
export async function sign(secret, body, timestamp) {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`));
  const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `sha256=${hex}`;
}

/** Seconds to wait before delivery number `attempts + 1`: the base doubled per attempt,
 * at least what the webhook's Retry-After asked for, at most the cap. */
export function retryDelay(attempts, baseS, maxS, retryAfterS = 0) {
  const grown = baseS * 2 ** Math.max(0, attempts - 1);
  return Math.ceil(Math.min(maxS, Math.max(grown, retryAfterS)));
}

/** Whether `body` is an R2 event notification (what the webhook reads: `object.key`). */
function isNotification(body) {
  return (
    body !== null &&
    typeof body === "object" &&
    typeof body.object === "object" &&
    body.object !== null &&
    typeof body.object.key === "string"
  );
}

/** One structured log line (no secret ever goes into one). */
function log(event, fields) {
  console.log(JSON.stringify({ event, ...fields }));
}

/** Send `messages` to the dead-letter queue (their bodies and why), then ack them. */
async function deadLetter(env, messages, status, reason) {
  log("dead_lettered", {
    status,
    reason,
    messages: messages.length,
    ids: messages.map((m) => m.id).slice(0, 20),
  });
  await env.DEAD_LETTERS.sendBatch(
    messages.map((m) => ({ body: { notification: m.body, status, reason, attempts: m.attempts } })),
  );
  for (const m of messages) m.ack();
}

function retry(env, messages, status, retryAfterS) {
  const base = setting(env, "RETRY_BASE_DELAY_S");
  const cap = setting(env, "RETRY_MAX_DELAY_S");
  for (const m of messages) {
    m.retry({ delaySeconds: retryDelay(m.attempts, base, cap, retryAfterS) });
  }
  log("forward_retried", { status, messages: messages.length, attempts: messages[0].attempts });
}

/** POST one chunk of notifications, signed; the response or the error that stopped it. */
async function forward(env, messages) {
  const body = JSON.stringify(messages.map((m) => m.body));
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await sign(env.WEBHOOK_SECRET, body, timestamp);
  return fetch(env.WEBHOOK_URL, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-reelpipe-timestamp": String(timestamp),
      "x-reelpipe-signature": signature,
    },
    redirect: "manual",
    signal: AbortSignal.timeout(setting(env, "FORWARD_TIMEOUT_MS")),
  });
}

async function handleChunk(env, messages) {
  let response;
  try {
    response = await forward(env, messages);
  } catch (err) {
    // A timeout or a network error: the webhook may not have seen it; a retry is safe.
    retry(env, messages, err && err.name === "TimeoutError" ? "timeout" : "network", 0);
    return;
  }
  const status = response.status;
  const text = await response.text().catch(() => "");
  if (status >= 200 && status < 300) {
    for (const m of messages) m.ack();
    return;
  }
  if (status >= 500 || status === 429) {
    const retryAfter = Number(response.headers.get("retry-after"));
    retry(env, messages, status, Number.isFinite(retryAfter) ? retryAfter : 0);
    return;
  }
  // 3xx (a redirect is never followed: the signature is for this URL) and 4xx: retrying the
  // same signed request cannot succeed.
  await deadLetter(env, messages, status, text.slice(0, 300));
}

export default {
  async queue(batch, env) {
    if (!env.WEBHOOK_URL || !env.WEBHOOK_SECRET) {
      throw new Error("WEBHOOK_URL (a var) and WEBHOOK_SECRET (a secret) must be set");
    }
    const notifications = batch.messages.filter((m) => isNotification(m.body));
    const malformed = batch.messages.filter((m) => !isNotification(m.body));
    if (malformed.length) {
      await deadLetter(env, malformed, 0, "not an R2 event notification (no object.key)");
    }
    const size = Math.max(1, Math.floor(setting(env, "MAX_KEYS_PER_REQUEST")));
    const chunks = [];
    for (let i = 0; i < notifications.length; i += size) {
      chunks.push(notifications.slice(i, i + size));
    }
    // One request at a time: together they never hold more than one chunk of the
    // webhook's claim queue.
    for (const chunk of chunks) {
      await handleChunk(env, chunk);
    }
  },
};

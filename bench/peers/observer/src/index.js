// The observer bench's peer Worker (see wrangler.toml). Kept minimal on purpose: it is the floor
// the observer's event path is measured against, on the same runtime.
import { DurableObject } from "cloudflare:workers";
import { Observer } from "../../../../workers/observer/src/observer";

/** One table, one INSERT per event: the durable write and nothing else. */
export class PeerStore extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS ops (id INTEGER PRIMARY KEY, op TEXT NOT NULL)",
    );
  }
  insert(op) {
    return this.ctx.storage.sql.exec("INSERT INTO ops (op) VALUES (?) RETURNING id", op).one().id;
  }
  ping() {
    return 1;
  }
  count() {
    return this.ctx.storage.sql.exec("SELECT count(*) AS n FROM ops").one().n;
  }
}

const EVENT = {
  timestamp: "",
  endpoint: "/v1/sql/sql",
  input_summary: "select count(*) from people",
  success: true,
  duration_ms: 12,
  output_summary: "1 row",
  source: "scenario",
};

export { Observer };

/**
 * The observer's own Observer class with one addition for the bench: a load loop run inside the
 * object, calling record() directly (no RPC, no HTTP) from `concurrency` callers, each awaiting
 * its answer — which record() gives only once storage.sync() says the write is durable.
 */
export class BenchObserver extends Observer {
  /** For comparison: record() without the group commit (insert, ring, answer at once; the output gate holds the answer until the commit). */
  recordDirect(ops, shard) {
    const w = this.ctx.storage.transactionSync(() => this.insertOps(ops, shard));
    w.capped.forEach(({ op, bytes }, i) => this.ring.push(op, bytes, w.ids[i]));
    return { ids: w.ids, ring_size: this.ring.length };
  }
  async selfLoad(n, concurrency, batch) {
    const latencies = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const k = Math.min(batch, n - next);
          next += k;
          const now = Date.now();
          await this.record(
            Array.from({ length: k }, () => ({
              op: { ...EVENT, timestamp: new Date(now).toISOString() },
              ts_ms: now,
            })),
            0,
          );
          latencies.push(Date.now() - now);
        }
      }),
    );
    const ms = Math.max(1, Date.now() - started);
    latencies.sort((a, b) => a - b);
    return {
      events: n,
      ms,
      events_per_s: (n / ms) * 1000,
      logged: this.logCount(),
      p50_ms: latencies[Math.floor(latencies.length / 2)] ?? 0,
      p99_ms: latencies[Math.ceil(latencies.length * 0.99) - 1] ?? 0,
    };
  }
}

/**
 * `n` events recorded into one Observer object (shard 0 of its own namespace) by `concurrency`
 * callers, each awaiting its record() before the next: an answer leaves the object only after
 * the write is durable (output gate), so the rate is durably accepted events per second.
 * Date.now() in workerd advances across I/O (each awaited RPC), so the wall time is real.
 */
async function inproc(env, n, concurrency, batch, target = "observer") {
  const name = `inproc-${crypto.randomUUID()}`;
  const stub =
    target === "observer"
      ? env.OBSERVER.get(env.OBSERVER.idFromName(name))
      : target === "direct"
        ? env.BENCH_OBSERVER.get(env.BENCH_OBSERVER.idFromName(name))
        : env.PEER.get(env.PEER.idFromName(name));
  const text = JSON.stringify(EVENT);
  const call =
    target === "observer"
      ? (k, now) =>
          stub.record(
            Array.from({ length: k }, () => ({
              op: { ...EVENT, timestamp: new Date(now).toISOString() },
              ts_ms: now,
            })),
            0,
          )
      : target === "direct"
        ? (k, now) =>
            stub.recordDirect(
              Array.from({ length: k }, () => ({
                op: { ...EVENT, timestamp: new Date(now).toISOString() },
                ts_ms: now,
              })),
              0,
            )
        : target === "peer"
          ? () => stub.insert(text)
          : () => stub.ping();
  if (target === "observer" || target === "direct")
    await stub.ringSize(); // start the object (migrations) outside the timing
  else await stub.ping();
  const latencies = [];
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const k = Math.min(batch, n - next);
        next += k;
        const now = Date.now();
        const t0 = now;
        await call(k, now);
        latencies.push(Date.now() - t0);
      }
    }),
  );
  const ms = Math.max(1, Date.now() - started);
  latencies.sort((a, b) => a - b);
  const logged =
    target === "observer" || target === "direct" ? await stub.logCount() : await stub.count();
  return {
    events: n,
    ms,
    events_per_s: (n / ms) * 1000,
    logged,
    p50_ms: latencies[Math.floor(latencies.length / 2)] ?? 0,
    p99_ms: latencies[Math.ceil(latencies.length * 0.99) - 1] ?? 0,
  };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const store = () => env.PEER.get(env.PEER.idFromName("peer"));
    switch (url.pathname) {
      case "/hello":
        return new Response("ok");
      case "/rpc":
        return Response.json({ ok: await store().ping() });
      case "/insert": {
        const text = await request.text();
        const id = await store().insert(text);
        return Response.json({ accepted: true, id });
      }
      case "/count":
        return Response.json({ count: await store().count() });
      case "/selfload": {
        const q = (k, d) => Number(url.searchParams.get(k) ?? d);
        const stub = env.BENCH_OBSERVER.get(
          env.BENCH_OBSERVER.idFromName(`self-${crypto.randomUUID()}`),
        );
        return Response.json(
          await stub.selfLoad(q("n", 20000), q("concurrency", 32), q("batch", 1)),
        );
      }
      case "/inproc": {
        const q = (k, d) => Number(url.searchParams.get(k) ?? d);
        return Response.json(
          await inproc(
            env,
            q("n", 20000),
            q("concurrency", 32),
            q("batch", 1),
            url.searchParams.get("target") ?? "observer",
          ),
        );
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};

// Observer ingest: POST /v1/observer/event through the gateway (bearer auth, then straight to
// the shard's Observer Durable Object over the gateway's cross-script binding — no second Worker
// since issue #15 — which validates and writes each op to SQLite before the ring)
// under autocannon for a fixed time, then the durable log's growth compared with the
// count of 2xx answers (zero lost). The peer (issue #15) is the smallest durable write on the
// same runtime: a Worker → Durable Object RPC → one SQLite INSERT (bench/peers/observer, started
// here with its own `wrangler dev`), same client, same run; targets ≥ 0.9× its events/s and
// p99 ≤ 1.5× its p99. The layers under both (a bare Worker, a DO RPC without a write) say where
// the time goes. In-process (no HTTP): the Observer class itself in that peer Worker, events it
// durably accepts per second when callers inside the object await record() (target ≥ 5,000/s),
// and through RPC from a Worker. Also: the batch endpoint, /stats latency with a full ring, and
// a bare Node http server appending to a file (what the Go observerd did) for reference.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WRANGLER_ENV } from "../../scripts/workers.mjs";
import { freePort, type System } from "../../test/e2e/harness.ts";
import { percentile, type Row, row, type SuiteResult, sample } from "../lib.ts";

// autocannon ships no types; loaded through require with the one signature used here.
const autocannon = createRequire(import.meta.url)("autocannon") as (
  opts: Record<string, unknown>,
  cb: (err: Error | null, result: Cannon) => void,
) => unknown;

const TOKEN = process.env.BENCH_TOKEN ?? "bench-token"; // bench/run.ts starts the system with this token
const DURATION_S = Number(process.env.OBSERVER_BENCH_SECONDS ?? 10);
const CONNECTIONS = 8;
const BATCH = 50;

const event = JSON.stringify({
  endpoint: "/v1/sql/sql",
  success: true,
  source: "scenario",
  duration_ms: 12,
  input_summary: "select count(*) from people",
  output_summary: "1 row",
});

type Cannon = {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  "2xx": number;
  non2xx: number;
  errors: number;
  timeouts: number;
};

function cannon(
  url: string,
  body: string | undefined,
  headers: Record<string, string>,
  duration = DURATION_S,
): Promise<Cannon> {
  return new Promise((resolve, reject) => {
    autocannon(
      body === undefined
        ? { url, method: "GET", headers, connections: CONNECTIONS, duration }
        : {
            url,
            method: "POST",
            body,
            headers: { "content-type": "application/json", ...headers },
            connections: CONNECTIONS,
            duration,
          },
      (err: Error | null, result: Cannon) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function logSize(sys: System): Promise<number> {
  const r = await sys.json("/v1/observer/ops?limit=1");
  if (r.status !== 200) throw new Error(`ops query failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.log_size as number;
}

const PEER = `
const http = require("node:http"); const fs = require("node:fs");
const fd = fs.openSync(process.argv[1], "a");
http.createServer((req, res) => {
  const chunks = []; req.on("data", (c) => chunks.push(c)); req.on("end", () => {
    let op; try { op = JSON.parse(Buffer.concat(chunks).toString()); } catch { res.writeHead(400).end(); return; }
    if (!op.endpoint) { res.writeHead(400).end(); return; }
    op.timestamp ??= new Date().toISOString(); op.source ??= "mcp";
    fs.appendFile(fd, JSON.stringify(op) + "\\n", () => { res.writeHead(200, { "content-type": "application/json" }).end('{"accepted":true}'); });
  });
}).listen(Number(process.argv[2]), "127.0.0.1", () => console.log("ready"));
`;

async function startPeer(): Promise<{ url: string; file: string; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "observer-peer-"));
  const file = join(dir, "ops.jsonl");
  const port = await freePort();
  const child = spawn(process.execPath, ["-e", PEER, file, String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}/event`,
    file,
    stop: () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        /* gone */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ROOT = join(import.meta.dirname, "../..");

/** The peer Worker (bench/peers/observer) under its own `wrangler dev`, on free ports, stopped by its process group. */
async function startWorkerPeer(): Promise<{ url: string; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "observer-worker-peer-"));
  const port = await freePort();
  const inspector = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "dev",
      "-c",
      "bench/peers/observer/wrangler.toml",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      dir,
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...WRANGLER_ENV, CI: "1", NO_COLOR: "1" },
    },
  );
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      /* gone */
    }
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 2000).unref();
  };
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  while (Date.now() - started < 180_000) {
    if (child.exitCode !== null) throw new Error(`peer wrangler dev exited: ${log.slice(-2000)}`);
    try {
      if ((await fetch(`${url}/hello`, { signal: AbortSignal.timeout(3000) })).ok)
        return { url, stop };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  stop();
  throw new Error(`peer did not start: ${log.slice(-2000)}`);
}

type InProc = {
  events: number;
  ms: number;
  events_per_s: number;
  logged: number;
  p50_ms: number;
  p99_ms: number;
};
async function inproc(
  peerUrl: string,
  path: string,
  q: Record<string, string | number>,
): Promise<InProc> {
  const res = await fetch(
    `${peerUrl}${path}?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`,
  );
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as InProc;
}

export async function run(sys: System): Promise<SuiteResult> {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const workerPeer = await startWorkerPeer();
  try {
    return await measure(sys, auth, workerPeer.url);
  } finally {
    workerPeer.stop();
  }
}

async function measure(
  sys: System,
  auth: Record<string, string>,
  peerUrl: string,
): Promise<SuiteResult> {
  const peerCount = async () =>
    ((await (await fetch(`${peerUrl}/count`)).json()) as { count: number }).count;
  // warm both paths (and both objects) before measuring
  await sample(
    () =>
      sys
        .fetch("/v1/observer/event", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: event,
        })
        .then((r) => r.arrayBuffer()),
    200,
    4,
  );
  await sample(
    () =>
      fetch(`${peerUrl}/insert`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: event,
      }).then((r) => r.arrayBuffer()),
    200,
    4,
  );

  // Ours and the peer back to back, twice, alternating (the machine is shared: alternation spreads the noise); the better run of each is kept.
  // Also, each round, one event per request through the observer Worker — POST /events with a
  // batch of one: gateway → service binding → observer Worker → object, the hop POST /event took
  // before issue #15 — so the same run shows what skipping that hop is worth.
  const singles: {
    ours: Cannon;
    oursLogged: number;
    peer: Cannon;
    peerLogged: number;
    hop: Cannon;
  }[] = [];
  const oneEventBatch = JSON.stringify([JSON.parse(event)]);
  for (let round = 0; round < 2; round++) {
    const b0 = await logSize(sys);
    const ours = await cannon(`${sys.url}/v1/observer/event`, event, auth);
    const oursLogged = (await logSize(sys)) - b0;
    const hop = await cannon(`${sys.url}/v1/observer/events`, oneEventBatch, auth);
    const p0 = await peerCount();
    const peer = await cannon(`${peerUrl}/insert`, event, {});
    const peerLogged = (await peerCount()) - p0;
    singles.push({ ours, oursLogged, peer, peerLogged, hop });
  }
  const hop = singles.reduce((a, b) => (b.hop["2xx"] > a.hop["2xx"] ? b : a)).hop;
  const best = (k: "ours" | "peer") =>
    singles.reduce((a, b) => (b[k]["2xx"] > a[k]["2xx"] ? b : a));
  const o = best("ours");
  const p = best("peer");
  const oursLost = singles.reduce((n, r) => n + Math.max(0, r.ours["2xx"] - r.oursLogged), 0);
  const peerLost = singles.reduce((n, r) => n + Math.max(0, r.peer["2xx"] - r.peerLogged), 0);

  // Layers: where the time goes (shorter runs).
  const LAYER_S = Math.max(3, Math.round(DURATION_S / 2));
  const gwBare = await cannon(`${sys.url}/health`, undefined, {}, LAYER_S);
  const peerBare = await cannon(`${peerUrl}/hello`, undefined, {}, LAYER_S);
  const gwRead = await cannon(`${sys.url}/v1/observer/health`, undefined, auth, LAYER_S);
  const peerRpc = await cannon(`${peerUrl}/rpc`, undefined, {}, LAYER_S);

  const batchBody = JSON.stringify({
    events: Array.from({ length: BATCH }, () => JSON.parse(event)),
  });
  const beforeBatch = await logSize(sys);
  const batch = await cannon(`${sys.url}/v1/observer/events`, batchBody, auth);
  const batchLogged = (await logSize(sys)) - beforeBatch;

  // In-process: the Observer class in the peer Worker (no HTTP).
  const self1 = await inproc(peerUrl, "/selfload", { n: 3000, concurrency: 1, batch: 1 });
  const self32 = await inproc(peerUrl, "/selfload", { n: 20000, concurrency: 32, batch: 1 });
  const self128 = await inproc(peerUrl, "/selfload", { n: 20000, concurrency: 128, batch: 1 });
  const selfBatch = await inproc(peerUrl, "/selfload", { n: 50000, concurrency: 8, batch: BATCH });
  const rpc32 = await inproc(peerUrl, "/inproc", {
    n: 10000,
    concurrency: 32,
    batch: 1,
    target: "observer",
  });
  const rpcPeer32 = await inproc(peerUrl, "/inproc", {
    n: 10000,
    concurrency: 32,
    batch: 1,
    target: "peer",
  });
  const rpcDirect32 = await inproc(peerUrl, "/inproc", {
    n: 10000,
    concurrency: 32,
    batch: 1,
    target: "direct",
  });
  const rpcPing32 = await inproc(peerUrl, "/inproc", {
    n: 10000,
    concurrency: 32,
    batch: 1,
    target: "ping",
  });
  const inprocLost = [self1, self32, self128, selfBatch, rpc32, rpcDirect32].reduce(
    (n, r) => n + Math.max(0, r.events - r.logged),
    0,
  );

  const node = await startPeer();
  let nodeResult: Cannon;
  let nodeLines: number;
  try {
    nodeResult = await cannon(node.url, event, {});
    nodeLines = readFileSync(node.file, "utf8").split("\n").filter(Boolean).length;
  } finally {
    node.stop();
  }

  const ringSize = (await sys.json("/v1/observer/health")).body.ring_size as number;
  const stats = await sample(
    () => sys.fetch("/v1/observer/stats").then((r) => r.arrayBuffer()),
    500,
    1,
  );
  const health = await sample(
    () => sys.fetch("/v1/observer/health").then((r) => r.arrayBuffer()),
    500,
    1,
  );

  const throughputRatio = o.ours["2xx"] / DURATION_S / (p.peer["2xx"] / DURATION_S);
  const p99Ratio = o.ours.latency.p99 / Math.max(1, p.peer.latency.p99);
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
  const rows: Row[] = [
    row(
      `events/s, POST /event via gateway vs Worker → DO → SQLite insert, ${CONNECTIONS} connections`,
      o.ours["2xx"] / DURATION_S,
      p.peer["2xx"] / DURATION_S,
      "events/s",
      `target ≥ 0.9×: ${verdict(throughputRatio >= 0.9)}`,
    ),
    row("p50 latency, POST /event", o.ours.latency.p50, p.peer.latency.p50, "ms"),
    row(
      "p99 latency, POST /event",
      o.ours.latency.p99,
      p.peer.latency.p99,
      "ms",
      `target ≤ 1.5×: ${verdict(p99Ratio <= 1.5)}`,
    ),
    row(
      "events lost (2xx answers not in the durable log), both rounds",
      oursLost,
      peerLost,
      "events",
    ),
    row(
      "events/s, one event per request through the observer Worker (POST /events, batch of 1: the pre-#15 path) vs the peer",
      hop["2xx"] / DURATION_S,
      p.peer["2xx"] / DURATION_S,
      "events/s",
    ),
    row(
      "p99 latency, one event per request through the observer Worker (same)",
      hop.latency.p99,
      p.peer.latency.p99,
      "ms",
    ),
    row(
      "layer: bare Worker, req/s (ours: gateway GET /health; peer: GET /hello)",
      gwBare["2xx"] / LAYER_S,
      peerBare["2xx"] / LAYER_S,
      "req/s",
    ),
    row("layer: bare Worker p50 (same)", gwBare.latency.p50, peerBare.latency.p50, "ms"),
    row(
      "layer: + DO RPC, no write, req/s (ours: GET /v1/observer/health via gateway → observer Worker → object, the hop POST /event no longer takes; peer: GET /rpc)",
      gwRead["2xx"] / LAYER_S,
      peerRpc["2xx"] / LAYER_S,
      "req/s",
    ),
    row("layer: + DO RPC, no write, p50 (same)", gwRead.latency.p50, peerRpc.latency.p50, "ms"),
    row(
      `events/s, POST /events (batches of ${BATCH}) vs peer single inserts`,
      (batch["2xx"] * BATCH) / DURATION_S,
      p.peer["2xx"] / DURATION_S,
      "events/s",
    ),
    row(
      `p99 latency, POST /events (batch of ${BATCH})`,
      batch.latency.p99,
      p.peer.latency.p99,
      "ms",
    ),
    row("events lost, batches", Math.max(0, batch["2xx"] * BATCH - batchLogged), 0, "events"),
    row(
      "in-process: events/s one shard durably accepts, 1 caller (peer column: the 5,000/s target)",
      self1.events_per_s,
      5000,
      "events/s",
      `p50 ${self1.p50_ms} ms`,
    ),
    row(
      "in-process: events/s one shard durably accepts, 32 concurrent callers",
      self32.events_per_s,
      5000,
      "events/s",
      `target: ${verdict(self32.events_per_s >= 5000)}; p99 ${self32.p99_ms} ms`,
    ),
    row(
      "in-process: events/s one shard durably accepts, 128 concurrent callers",
      self128.events_per_s,
      5000,
      "events/s",
      `target: ${verdict(self128.events_per_s >= 5000)}; p99 ${self128.p99_ms} ms`,
    ),
    row(
      `in-process: events/s one shard durably accepts, 8 callers × batches of ${BATCH}`,
      selfBatch.events_per_s,
      5000,
      "events/s",
      `target: ${verdict(selfBatch.events_per_s >= 5000)}`,
    ),
    row(
      "in-process: events/s through RPC from a Worker, 32 callers (peer: the minimal insert RPC)",
      rpc32.events_per_s,
      rpcPeer32.events_per_s,
      "events/s",
    ),
    row(
      "in-process: RPC from a Worker, 32 callers: record() without group commit (peer: with it)",
      rpcDirect32.events_per_s,
      rpc32.events_per_s,
      "events/s",
    ),
    row(
      "in-process: RPC from a Worker, 32 callers: a no-op RPC (the ceiling of one-event calls; peer: the minimal insert)",
      rpcPing32.events_per_s,
      rpcPeer32.events_per_s,
      "calls/s",
    ),
    row("in-process: events lost (accepted, not in the log)", inprocLost, 0, "events"),
    row(
      "events/s, POST /event via gateway vs bare Node http + file append (reference)",
      o.ours["2xx"] / DURATION_S,
      nodeResult["2xx"] / DURATION_S,
      "events/s",
    ),
    row(
      `GET /stats p50, ring of ${ringSize} (peer: GET /health, same hop, no stats)`,
      percentile(stats.latencies, 50),
      percentile(health.latencies, 50),
      "ms",
    ),
    row(
      `GET /stats p99, ring of ${ringSize} (peer: GET /health)`,
      percentile(stats.latencies, 99),
      percentile(health.latencies, 99),
      "ms",
    ),
  ];
  const hopRatio = hop["2xx"] / Math.max(1, p.peer["2xx"]);
  const hopP99Ratio = hop.latency.p99 / Math.max(1, p.peer.latency.p99);
  console.log(
    `observer: throughput ratio ${throughputRatio.toFixed(3)} (target ≥ 0.9: ${verdict(throughputRatio >= 0.9)}), p99 ratio ${p99Ratio.toFixed(3)} (target ≤ 1.5: ${verdict(p99Ratio <= 1.5)}); through the observer Worker (pre-#15 path) ${hopRatio.toFixed(3)}× / p99 ${hopP99Ratio.toFixed(3)}×; in-process 32 callers ${self32.events_per_s.toFixed(0)}/s, 128 callers ${self128.events_per_s.toFixed(0)}/s (target ≥ 5,000: ${verdict(self128.events_per_s >= 5000)})`,
  );
  return {
    name: "observer",
    title: "Observer event ingest through the gateway",
    ours_label: "observer",
    peer_label: "minimal Worker → DO → SQLite (same runtime) / target",
    rows,
    notes: [
      `autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per case, ours and the peer alternated twice (best run of each kept); ours: ${o.ours["2xx"]} 2xx, ${o.ours.non2xx} non-2xx, ${o.ours.errors} errors; peer: ${p.peer["2xx"]} 2xx, ${p.peer.non2xx} non-2xx. Ratios: throughput ${throughputRatio.toFixed(3)}× (target ≥ 0.9: ${verdict(throughputRatio >= 0.9)}), p99 ${p99Ratio.toFixed(3)}× (target ≤ 1.5: ${verdict(p99Ratio <= 1.5)}); one event through the observer Worker (POST /events, batch of 1, the hop POST /event skips since issue #15): ${hopRatio.toFixed(3)}×, p99 ${hopP99Ratio.toFixed(3)}×.`,
      `the peer: bench/peers/observer under its own wrangler dev (Worker → DO RPC → one INSERT, answered after the output gate); ours: client → gateway Worker (auth, route table, body cap) → Durable Object RPC (the gateway binds the Observer namespace) → Observer object (Observer.event: the observer's body cap and validation, field caps, insert with its two indexes, ring, group commit). The system runs [observerd].shards as bench/run.ts starts it (default 1).`,
      `batches: ${batch["2xx"]} 2xx of ${BATCH} events, ${batch.non2xx} non-2xx; log grew by ${batchLogged}. bare Node peer: ${nodeResult["2xx"]} 2xx, ${nodeLines} lines in its file.`,
      `in-process: the Observer class (bench/peers/observer BenchObserver) — callers inside the object await record(), which answers after storage.sync() (durable); 1 caller ${self1.events_per_s.toFixed(0)}/s, 32 callers ${self32.events_per_s.toFixed(0)}/s, 128 callers ${self128.events_per_s.toFixed(0)}/s, batches ${selfBatch.events_per_s.toFixed(0)}/s; RPC from a Worker (a DO call loop, no HTTP): observer ${rpc32.events_per_s.toFixed(0)}/s, without group commit ${rpcDirect32.events_per_s.toFixed(0)}/s, minimal insert ${rpcPeer32.events_per_s.toFixed(0)}/s, no-op RPC ${rpcPing32.events_per_s.toFixed(0)}/s.`,
      "The log may grow by more than the 2xx count: requests in flight when autocannon stops are written and answered after it stopped counting.",
      "All of it runs in local workerd on the same 2 cores as the load generator; deployed figures are derived in docs/observer.md.",
    ],
  };
}

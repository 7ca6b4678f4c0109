// Hostile clients, generated: at least 1,000 requests across every public route (DESIGN §6)
// with wrong types, huge / empty / odd strings, unicode, extra and missing fields, deep
// nesting, odd methods, encoded paths and chunked bodies over the caps. Every answer must
// be a 2xx or a 4xx JSON error — never a 5xx, never a hang — and a state check after each
// batch (datasets and their rows, indexes and their counts, traces, observer counts, objects)
// shows that a batch whose writes were all refused changed nothing. The seeded data is
// never a write target, so it must be intact at the end whatever was accepted.
// fast-check draws the requests from a fixed seed (printed), so a failure replays exactly.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const BATCHES = 100;
const PER_BATCH = 12; // 1,200 requests in all
const TIMEOUT_MS = 30_000;
const DIM = 8;

interface Hostile {
  method: string;
  path: string;
  body?:
    | { kind: "json"; text: string }
    | { kind: "raw"; bytes: Uint8Array; type: string }
    | { kind: "chunked"; bytes: number; type: string };
  label: string;
}

// ---- the pieces hostile requests are made of ----

const oddStrings = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "..",
    "../..",
    "%2e%2e",
    "%00",
    "a/../../b",
    "\ud83d\ude00",
    "e\u0301",
    "\u202eevil",
    "select",
    "sqlite_master",
    "Robert'); DROP TABLE x;--",
    '" OR 1=1 --',
    "${jndi:x}",
    "<script>",
    "null",
    "NaN",
    "-1",
    "1e309",
    "0x10",
    "🦀".repeat(300),
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.integer({ min: 1000, max: 70_000 }).map((n) => "x".repeat(n)),
);
const oddScalars = fc.oneof(
  oddStrings,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(-0),
  fc.bigInt().map(String),
);
const oddValue = fc.oneof(
  oddScalars,
  fc.array(oddScalars, { maxLength: 5 }),
  fc.dictionary(oddStrings, oddScalars, { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 4 }),
);
/** A JSON text nested `depth` deep: the parser must not be the thing that falls over. */
const deep = fc.integer({ min: 200, max: 60_000 }).chain((depth) =>
  fc.constantFrom("[", '{"a":').map((open) => {
    const close = open === "[" ? "]" : "}";
    return open.repeat(depth) + "1" + close.repeat(depth);
  }),
);

/** Names that writes may target: never the seeded ones (those start with "seed"). */
const writeName = oddStrings.map((s) => (s.toLowerCase().startsWith("seed") ? `x${s}` : s));
const readName = fc.oneof(writeName, fc.constantFrom("seed_people", "seed_idx", "seed-trace"));
const seg = (s: string) => encodeURIComponent(s);
const rawSeg = fc.oneof(
  writeName.map(seg),
  fc.constantFrom("%2F", "%2e%2e", "..", ".", "%252F", "a%00b", "%ZZ", "//x", "a/b/c"),
);

/** A plausible body for a route with some fields wrong, missing, extra or hostile. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(base);
  return fc
    .record({
      drop: fc.subarray(keys),
      replace: fc.dictionary(fc.constantFrom(...keys), oddValue, { maxKeys: keys.length }),
      extra: fc.dictionary(oddStrings, oddValue, { maxKeys: 2 }),
    })
    .map(({ drop, replace, extra }) => {
      const out: Record<string, unknown> = { ...base, ...replace, ...extra };
      for (const k of drop) delete out[k];
      return JSON.stringify(out);
    });
}

const jsonBody = (base: Record<string, unknown>) =>
  fc.oneof(
    { weight: 6, arbitrary: mutated(base).map((text) => ({ kind: "json" as const, text })) },
    {
      weight: 2,
      arbitrary: oddValue.map((v) => ({
        kind: "json" as const,
        text: JSON.stringify(v) ?? "null",
      })),
    },
    { weight: 1, arbitrary: deep.map((text) => ({ kind: "json" as const, text })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom("", "{", '{"a":}', "[1,]", "\u0000", '{"sql": "x"}}', "NaN")
        .map((text) => ({ kind: "json" as const, text })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 512 })
        .map((bytes) => ({ kind: "raw" as const, bytes, type: "application/json" })),
    },
  );

const vector = fc.oneof(
  fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: DIM, maxLength: DIM }),
  fc.array(oddScalars, { maxLength: 10 }),
);

/** Every public route with the bodies and parameters a hostile client would send it. */
const routes: fc.Arbitrary<Hostile>[] = [
  // storage
  fc.record({ key: rawSeg, body: fc.uint8Array({ maxLength: 256 }) }).map(({ key, body }) => ({
    method: "PUT",
    path: `/v1/storage/objects/${key}`,
    body: { kind: "raw" as const, bytes: body, type: "application/octet-stream" },
    label: "storage put",
  })),
  rawSeg.map((key) => ({
    method: "GET",
    path: `/v1/storage/objects/${key}`,
    label: "storage get",
  })),
  rawSeg.map((key) => ({
    method: "DELETE",
    path: `/v1/storage/objects/${key}`,
    label: "storage delete",
  })),
  fc.record({ prefix: oddStrings, limit: oddStrings, cursor: oddStrings }).map((q) => ({
    method: "GET",
    path: `/v1/storage/list?${new URLSearchParams(q)}`,
    label: "storage list",
  })),
  rawSeg.map((key) => ({
    method: "POST",
    path: `/v1/storage/multipart/${key}`,
    label: "multipart start",
  })),
  fc.record({ key: rawSeg, id: oddStrings, part: oddStrings }).map(({ key, id, part }) => ({
    method: "PUT",
    path: `/v1/storage/multipart/${key}?upload_id=${seg(id)}&part=${seg(part)}`,
    body: { kind: "raw" as const, bytes: new Uint8Array(3), type: "application/octet-stream" },
    label: "multipart part",
  })),
  // ingest (a CSV that is hostile in its own ways) and an ingest body over the cap, streamed
  fc
    .record({
      name: writeName,
      mode: oddStrings,
      csv: fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.constantFrom(
          "a,b\n1",
          "a,a\n1,2\n",
          '"unterminated\n',
          "\ufeff\r\n",
          "x\n" + "1\n".repeat(3),
          "a,b\n1,2,3\n",
        ),
      ),
    })
    .map(({ name, mode, csv }) => ({
      method: "POST",
      path: `/v1/ingest?name=${seg(name)}&mode=${seg(mode)}`,
      body: { kind: "raw" as const, bytes: new TextEncoder().encode(csv), type: "text/csv" },
      label: "ingest",
    })),
  fc.constant({
    method: "POST",
    path: "/v1/ingest?name=fuzz_over_cap",
    body: { kind: "chunked" as const, bytes: 0, type: "text/csv" },
    label: "ingest chunked over cap",
  }),
  // catalog
  readName.map((n) => ({
    method: "GET",
    path: `/v1/catalog/manifest/${seg(n)}?version=${seg(n)}`,
    label: "manifest",
  })),
  readName.map((n) => ({ method: "GET", path: `/v1/catalog/history/${seg(n)}`, label: "history" })),
  writeName.map((n) => ({
    method: "DELETE",
    path: `/v1/catalog/manifest/${seg(n)}`,
    label: "catalog delete",
  })),
  // sql, including a body over its cap sent chunked
  jsonBody({ sql: "SELECT COUNT(*) FROM seed_people", params: [1], max_rows: 5 }).map((body) => ({
    method: "POST",
    path: "/v1/sql",
    body,
    label: "sql",
  })),
  fc
    .constantFrom(
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT * FROM r",
      "SELECT * FROM 'sqlite_master'",
      "SELECT * FROM [sqlite_schema]",
      "DELETE FROM seed_people",
      "SELECT 1; DROP TABLE seed_people",
      "PRAGMA table_info(seed_people)",
      "ATTACH 'x' AS y",
      'SELECT * FROM "Seed_People"',
      "SELECT load_extension('x')",
    )
    .map((sql) => ({
      method: "POST",
      path: "/v1/sql",
      body: { kind: "json" as const, text: JSON.stringify({ sql }) },
      label: "sql hostile",
    })),
  fc.constant({
    method: "POST",
    path: "/v1/sql",
    body: { kind: "chunked" as const, bytes: 0, type: "application/json" },
    label: "sql chunked over cap",
  }),
  // embed
  jsonBody({ texts: ["hello"], model: "local" }).map((body) => ({
    method: "POST",
    path: "/v1/embed",
    body,
    label: "embed",
  })),
  // vectors
  jsonBody({ name: "fuzzidx", dimension: DIM, distance: "cosine" }).map((body) => ({
    method: "POST",
    path: "/v1/vectors/index",
    body,
    label: "index create",
  })),
  fc
    .record({
      n: readName,
      body: fc.oneof(
        vector.chain((v) => jsonBody({ vector: v, k: 3, filter: { kind: "a" } })),
        jsonBody({ k: 3 }),
      ),
    })
    .map(({ n, body }) => ({
      method: "POST",
      path: `/v1/vectors/index/${seg(n)}/search`,
      body,
      label: "vector search",
    })),
  fc.record({ n: writeName, v: vector }).chain(({ n, v }) =>
    jsonBody({ items: [{ id: "i", vector: v, metadata: { a: 1 } }] }).map((body) => ({
      method: "POST",
      path: `/v1/vectors/index/${seg(n)}/add`,
      body,
      label: "vector add",
    })),
  ),
  fc.record({ n: writeName }).chain(({ n }) =>
    jsonBody({ ids: ["i"] }).map((body) => ({
      method: "POST",
      path: `/v1/vectors/index/${seg(n)}/delete`,
      body,
      label: "vector delete",
    })),
  ),
  writeName.map((n) => ({
    method: "DELETE",
    path: `/v1/vectors/index/${seg(n)}`,
    label: "index delete",
  })),
  // pathway
  fc
    .constantFrom("add", "add_idempotent", "update", "revise", "retire")
    .chain((op) =>
      jsonBody({ uid: "fz", content: { a: 1 }, tags: ["t"], predecessor_uid: "fz0" }).map(
        (body) => ({ method: "POST", path: `/v1/pathway/${op}`, body, label: `pathway ${op}` }),
      ),
    ),
  jsonBody({ tags: ["t"], text: "x", include_retired: true, limit: 3 }).map((body) => ({
    method: "POST",
    path: "/v1/pathway/search",
    body,
    label: "pathway search",
  })),
  readName.map((u) => ({
    method: "GET",
    path: `/v1/pathway/history/${seg(u)}`,
    label: "pathway history",
  })),
  // matrix
  jsonBody({
    query_text: "apples",
    corpora: ["seed_idx"],
    k: 3,
    metadata_filter: { kind: ["a"] },
    use_playbook: true,
  }).map((body) => ({ method: "POST", path: "/v1/matrix/search", body, label: "matrix search" })),
  jsonBody({ query_text: "q", answer_id: "a", answer_corpus: "c", score: 2, tags: ["x"] }).map(
    (body) => ({
      method: "POST",
      path: "/v1/matrix/playbooks/record",
      body,
      label: "playbook record",
    }),
  ),
  jsonBody({
    focus_file: { path: "a.ts", content: "export function f() {}" },
    chunks: [{ source: "a.ts", text: "f" }],
    threshold: 0.3,
  }).map((body) => ({ method: "POST", path: "/v1/matrix/relevance", body, label: "relevance" })),
  jsonBody({ mode: "codereview_lakehouse", model: "gpt", forced_mode: true }).map((body) => ({
    method: "POST",
    path: "/v1/matrix/downgrade",
    body,
    label: "downgrade",
  })),
  // observer
  jsonBody({
    endpoint: "/x",
    success: "yes",
    duration_ms: -1,
    source: "nobody",
    input_summary: 5,
  }).map((body) => ({ method: "POST", path: "/v1/observer/event", body, label: "observer event" })),
  jsonBody({ events: [{ endpoint: "" }] }).map((body) => ({
    method: "POST",
    path: "/v1/observer/events",
    body,
    label: "observer events",
  })),
  fc
    .record({ source: oddStrings, success: oddStrings, since: oddStrings, limit: oddStrings })
    .map((q) => ({
      method: "GET",
      path: `/v1/observer/ops?${new URLSearchParams(q)}`,
      label: "observer ops",
    })),
  jsonBody({
    response: "r",
    source_content: "s",
    grounding_stats: {},
    model: "m",
    attempt: "x",
  }).map((body) => ({ method: "POST", path: "/v1/observer/review", body, label: "review" })),
  // mcp: JSON-RPC with hostile params
  jsonBody({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "query_sql", arguments: { sql: "SELECT 1" } },
  }).map((body) => ({ method: "POST", path: "/v1/mcp", body, label: "mcp" })),
  // odd methods and paths anywhere
  fc
    .record({
      method: fc.constantFrom("PATCH", "OPTIONS", "PROPFIND", "DELETE", "PUT", "GET", "HEAD"), // (Node's fetch refuses to send TRACE)
      path: fc.constantFrom(
        "/v1/sql",
        "/v1/catalog/list",
        "/v1/observer/stats",
        "/v1/vectors/index",
        "/v1/mcp",
        "/v1/nope",
        "/v1/%2e%2e/health",
        "/v1//sql",
        "/v1/sql/datasets/changed",
        "/v1/catalog/register",
        "/v1/storage/delete",
        "/v1/sql/%64atasets/changed",
        "/v1/SQL",
        "/v1/embed/stats",
        "/v1/pathway/stats",
      ),
    })
    .map(({ method, path }) => ({ method, path, label: "odd method" })),
];

const hostile = fc.oneof(...routes);

/** POST routes that store nothing (a 2xx from one of these leaves the snapshot as it was). */
const READ_ONLY = new Set([
  "sql",
  "sql hostile",
  "embed",
  "vector search",
  "pathway search",
  "matrix search",
  "relevance",
  "downgrade",
]);

// ---- the system under attack ----

let sys: System;
let ingestCap = 0;
let sqlCap = 0;

async function send(req: Hostile): Promise<{ status: number; contentType: string; text: string }> {
  const headers = new Headers();
  let body: BodyInit | undefined;
  const init: RequestInit & { duplex?: "half" } = {
    method: req.method,
    headers,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  };
  if (req.body?.kind === "json") {
    headers.set("content-type", "application/json");
    body = req.body.text;
  } else if (req.body?.kind === "raw") {
    headers.set("content-type", req.body.type);
    body = req.body.bytes as Uint8Array<ArrayBuffer>;
  } else if (req.body?.kind === "chunked") {
    // A body with no declared length, one chunk past the family's cap.
    headers.set("content-type", req.body.type);
    const cap = req.path.startsWith("/v1/ingest") ? ingestCap : sqlCap;
    const chunk = new Uint8Array(64 * 1024).fill(0x31);
    let sent = 0;
    body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > cap) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    init.duplex = "half";
  }
  const res = await sys.fetch(req.path, { ...init, body });
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    text: req.method === "HEAD" ? "" : await res.text(),
  };
}

async function snapshot(): Promise<Record<string, unknown>> {
  const datasets = (await sys.json("/v1/catalog/list")).body.datasets
    .map((d: { name: string; row_count: number; schema_fingerprint: string }) => [
      d.name,
      d.row_count,
      d.schema_fingerprint,
    ])
    .sort();
  const indexes = (await sys.json("/v1/vectors/index")).body.indexes
    .map((i: { name: string; count: number }) => [i.name, i.count])
    .sort();
  const traces = (await sys.json("/v1/pathway/stats")).body;
  // MCP witnesses its tool calls after answering (waitUntil): let a late witness land first.
  let observer = (await sys.json("/v1/observer/stats")).body.total;
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const again = (await sys.json("/v1/observer/stats")).body.total;
    if (again === observer) break;
    observer = again;
  }
  const objects = (await sys.json("/v1/storage/list?limit=1000")).body.objects
    .map((o: { key: string; etag: string }) => `${o.key}@${o.etag}`)
    .sort();
  const rows = (
    await sys.json("/v1/sql", {
      method: "POST",
      json: { sql: "SELECT COUNT(*) AS n, SUM(id) AS s FROM seed_people" },
    })
  ).body.rows;
  return { datasets, indexes, traces, observer, objects, rows };
}

describe("hostile requests, generated", () => {
  beforeAll(async () => {
    // The ingest family's cap is lowered at the gateway so a chunked body past it is cheap to send.
    sys = await startSystem({ vars: { LH_GATEWAY_BODY_CAPS_INGEST: String(1024 * 1024) } });
    const ingested = await sys.json("/v1/ingest?name=seed_people", {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: "id,name\n1,Ada\n2,Alan\n3,Grace\n",
    });
    expect(ingested.status).toBe(200);
    expect(
      (
        await sys.json("/v1/vectors/index", {
          method: "POST",
          json: { name: "seed_idx", dimension: DIM },
        })
      ).status,
    ).toBe(201);
    const items = Array.from({ length: 20 }, (_, i) => ({
      id: `v${i}`,
      vector: Array.from({ length: DIM }, (_, j) => Math.sin(i * 7 + j)),
      metadata: { kind: i % 2 ? "a" : "b" },
    }));
    expect(
      (await sys.json("/v1/vectors/index/seed_idx/add", { method: "POST", json: { items } }))
        .status,
    ).toBe(200);
    expect(
      (
        await sys.json("/v1/pathway/add", {
          method: "POST",
          json: { uid: "seed-trace", content: { step: 1 }, tags: ["seed"] },
        })
      ).status,
    ).toBe(200);
    const openapi = await sys.json("/v1/openapi.json");
    expect(openapi.status).toBe(200);
    ingestCap = 1024 * 1024;
    sqlCap = 1024 * 1024;
  });
  afterAll(() => sys?.stop());

  it(`answers ${BATCHES * PER_BATCH} generated requests with 2xx or 4xx JSON only, and refused batches change nothing`, async () => {
    console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
    const requests = fc.sample(hostile, { numRuns: BATCHES * PER_BATCH, seed: SEED });
    const byStatus = new Map<number, number>();
    const byLabel = new Map<string, { n: number; ok: number }>();
    const failures: string[] = [];
    let unchangedChecks = 0;
    const before = await snapshot();
    const seedState = {
      rows: before.rows,
      idx: (before.indexes as [string, number][]).find(([n]) => n === "seed_idx"),
    };
    for (let b = 0; b < BATCHES; b++) {
      const start = await snapshot();
      let accepted = 0;
      const seen: string[] = [];
      for (const req of requests.slice(b * PER_BATCH, (b + 1) * PER_BATCH)) {
        let answer: Awaited<ReturnType<typeof send>>;
        try {
          answer = await send(req);
        } catch (err) {
          failures.push(
            `${req.method} ${req.path.slice(0, 120)} (${req.label}): no answer: ${(err as Error).message}`,
          );
          continue;
        }
        byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1);
        seen.push(`${answer.status} ${req.method} ${req.path.slice(0, 80)} (${req.label})`);
        const l = byLabel.get(req.label) ?? { n: 0, ok: 0 };
        l.n++;
        if (answer.status < 300) l.ok++;
        byLabel.set(req.label, l);
        if (
          answer.status >= 500 ||
          answer.status < 200 ||
          (answer.status >= 300 && answer.status < 400)
        ) {
          failures.push(
            `${req.method} ${req.path.slice(0, 120)} (${req.label}) → ${answer.status}: ${answer.text.slice(0, 200)}`,
          );
        } else if (answer.status >= 400 && req.method !== "HEAD") {
          let code: unknown;
          try {
            code = JSON.parse(answer.text)?.error?.code;
          } catch {
            code = undefined;
          }
          // The MCP endpoint speaks JSON-RPC: its transport's refusals are JSON-RPC errors. A URL
          // past the runtime's limit is refused (414) before any Worker sees it, as at the edge.
          const jsonRpc =
            req.path === "/v1/mcp" &&
            typeof JSON.parse(answer.text || "null")?.error?.code === "number";
          const runtime414 = answer.status === 414 && req.path.length > 16_000;
          if (typeof code !== "string" && !jsonRpc && !runtime414)
            failures.push(
              `${req.method} ${req.path.slice(0, 120)} (${req.label}) → ${answer.status} without a JSON error: ${answer.text.slice(0, 120)}`,
            );
        }
        if (req.body?.kind === "chunked" && answer.status !== 413)
          failures.push(
            `${req.label}: a chunked body over the cap answered ${answer.status}, not 413`,
          );
        if (
          answer.status < 300 &&
          req.method !== "GET" &&
          req.method !== "HEAD" &&
          !READ_ONLY.has(req.label)
        )
          accepted++;
      }
      const end = await snapshot();
      if (accepted === 0) {
        const changed = Object.keys(start).filter(
          (k) => JSON.stringify(start[k]) !== JSON.stringify(end[k]),
        );
        const detail = changed
          .map(
            (k) =>
              `${k}: ${JSON.stringify(start[k]).slice(0, 300)} → ${JSON.stringify(end[k]).slice(0, 300)}`,
          )
          .join("\n");
        expect(
          changed,
          `batch ${b}: every write was refused, yet the state changed:\n${detail}\nrequests:\n${seen.join("\n")}`,
        ).toEqual([]);
        unchangedChecks++;
      }
    }
    const after = await snapshot();
    console.log(
      `fuzz: ${requests.length} requests; by status ${JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))}; ` +
        `${unchangedChecks}/${BATCHES} batches refused every write and were checked unchanged`,
    );
    console.log(
      `fuzz by route: ${[...byLabel].map(([k, v]) => `${k} ${v.n} (${v.ok} ok)`).join("; ")}`,
    );
    expect(failures, failures.slice(0, 20).join("\n")).toEqual([]);
    // The seeded data was never a write target: it is intact whatever else was accepted.
    expect(after.rows).toEqual(seedState.rows);
    expect((after.indexes as [string, number][]).find(([n]) => n === "seed_idx")).toEqual(
      seedState.idx,
    );
    expect((await sys.json("/v1/pathway/get/seed-trace")).body.content).toEqual({ step: 1 });
    expect((await sys.json("/v1/health")).body.status).toBe("ok");
    // 1,200 requests and 100 state snapshots: bounded by count, so its time limit is a hang guard
    // sized for a loaded machine (it took 144 s there, past the suite's default), not a speed check.
  }, 900_000);
});

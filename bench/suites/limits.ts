// The worst legal input of each service against Cloudflare's 128 MB per isolate: peak JS heap
// of the isolate that does the work (read through workerd's inspector, sampled every 50 ms)
// and the CPU its code used (V8 profiler). Inputs: a CSV at the ingest cap, flights-3m
// loaded into the engine and queried, a vector shard at its cap with metadata at its cap, an
// observer ring full of maximal events, a matrix search over the most corpora allowed.
// "peer" is the platform limit (128 MiB), so the ratio is the share of the limit used.

import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { parse } from "smol-toml";
import type { System } from "../../test/e2e/harness.ts";
import { measureIsolates } from "../inspector.ts";
import { multipartUpload, type Row, row, type SuiteResult } from "../lib.ts";

const LIMIT_MB = 128;
const MiB = 1024 * 1024;
// lakehouse.toml as the Workers read it (every key is present with its default; the bench runs with no overrides).
const cfg = parse(readFileSync(resolve("lakehouse.toml"), "utf8")) as Record<
  string,
  Record<string, any>
>;
const config = {
  ingestd: { max_ingest_bytes: Number(cfg.ingestd!.max_ingest_bytes) },
  gateway: { body_caps: { ingest: Number(cfg.gateway!.body_caps.ingest) } },
  observerd: { ring_cap: Number(cfg.observerd!.ring_cap) },
  vectord: { max_k: Number(cfg.vectord!.max_k) },
};

async function check(
  res: Response | { status: number; body?: unknown },
  what: string,
): Promise<void> {
  const status = res.status;
  if (status >= 300) {
    const body = res instanceof Response ? await res.text() : JSON.stringify(res.body);
    throw new Error(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

function measured(
  name: string,
  worker: string,
  use: { worker: string; peak_heap_mb: number; cpu_ms: number }[],
  what: string,
): Row {
  const u = use.find((x) => x.worker === worker)!;
  return row(
    name,
    u.peak_heap_mb,
    LIMIT_MB,
    "MiB heap",
    `${worker.replace("lakehouse-", "")} isolate, ${Math.round(u.cpu_ms)} ms CPU; ${what}`,
  );
}

export async function run(sys: System): Promise<SuiteResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "limits-bench-"));
  try {
    // 1. A CSV at the ingest cap, as a raw body through the gateway.
    const cap = Math.min(config.ingestd.max_ingest_bytes, config.gateway.body_caps.ingest);
    const csvPath = join(dir, "cap.csv");
    const fd = openSync(csvPath, "w");
    const header = "id,ts,amount,flag,label,comment\n";
    writeSync(fd, header);
    let written = header.length;
    const block: string[] = [];
    for (let i = 0; written < cap - 200; i++) {
      const line = `${i},2024-01-${String((i % 28) + 1).padStart(2, "0")}T10:00:00Z,${(i * 0.37).toFixed(2)},${i % 3 === 0},label-${i % 997},"a comment, with a comma ${i}"\n`;
      if (written + line.length > cap) break;
      block.push(line);
      written += line.length;
      if (block.length === 10_000) {
        writeSync(fd, block.join(""));
        block.length = 0;
      }
    }
    writeSync(fd, block.join(""));
    closeSync(fd);
    const csvBytes = statSync(csvPath).size;
    const csv = readFileSync(csvPath);
    const ingest = await measureIsolates(
      sys.persistDir,
      ["lakehouse-ingest", "lakehouse-storage"],
      async () =>
        sys.json("/v1/ingest?name=limits_cap", {
          method: "POST",
          headers: { "content-type": "text/csv" },
          body: csv,
        }),
    );
    await check(ingest.result, "ingest at the cap");
    rows.push(
      measured(
        `ingest: CSV at the cap (${(csvBytes / MiB).toFixed(0)} MiB, ${ingest.result.body.row_count} rows)`,
        "lakehouse-ingest",
        ingest.use,
        "raw body",
      ),
    );
    rows.push(
      measured(
        "ingest: the same, storage isolate",
        "lakehouse-storage",
        ingest.use,
        "staging + Parquet write",
      ),
    );

    // 2. flights-3m into the engine: the Parquet as CSV (DuckDB), uploaded, ingested by from_key, queried.
    const flightsCsv = join(dir, "flights.csv");
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    await con.run(
      `COPY (SELECT * FROM read_parquet('${resolve("node_modules/vega-datasets/data/flights-3m.parquet")}')) TO '${flightsCsv}' (HEADER, DELIMITER ',')`,
    );
    con.closeSync();
    await multipartUpload(sys, flightsCsv, "_uploads/bench/flights-3m.csv");
    const load = await measureIsolates(
      sys.persistDir,
      ["lakehouse-query", "lakehouse-ingest"],
      async () => {
        const ing = await sys.json(
          "/v1/ingest?name=limits_flights&from_key=_uploads/bench/flights-3m.csv",
          { method: "POST" },
        );
        await check(ing, "flights ingest");
        const q = await sys.json("/v1/sql", {
          method: "POST",
          json: {
            sql: "SELECT origin, count(*) AS n, avg(delay) AS d FROM limits_flights GROUP BY origin ORDER BY n DESC LIMIT 5",
          },
        });
        await check(q, "flights query");
        return ing;
      },
    );
    rows.push(
      measured(
        "sql: flights-3m loaded into the engine, then a GROUP BY",
        "lakehouse-query",
        load.use,
        `${load.result.body.row_count} rows`,
      ),
    );
    rows.push(
      measured(
        "ingest: flights-3m by from_key",
        "lakehouse-ingest",
        load.use,
        `${(statSync(flightsCsv).size / MiB).toFixed(0)} MiB CSV`,
      ),
    );

    // 3. A vector shard at its cap, metadata at its cap (768-d, the default quantization).
    const dim = 768;
    const metaCap = Number(cfg.vectord?.max_metadata_bytes ?? 4096);
    await check(
      await sys.json("/v1/vectors/index", {
        method: "POST",
        json: { name: "limits_shard", dimension: dim, distance: "cosine" },
      }),
      "create index",
    );
    let added = 0;
    let full = "";
    const vec = await measureIsolates(sys.persistDir, ["lakehouse-vectors"], async () => {
      for (let batch = 0; batch < 400 && !full; batch++) {
        const items = Array.from({ length: 250 }, (_, i) => {
          const n = batch * 250 + i;
          const v = Array.from({ length: dim }, (_, j) => Math.sin(n * 0.7 + j * 1.3));
          // metadata whose JSON is just under the cap
          return {
            id: `v${n}`,
            vector: v,
            metadata: { note: "m".repeat(Math.max(0, metaCap - 40)) },
          };
        });
        const res = await sys.json("/v1/vectors/index/limits_shard/add", {
          method: "POST",
          json: { items },
        });
        if (res.status === 200) added = res.body.count;
        else if (res.status === 507 || res.status === 413 || res.status === 400)
          full = `${res.status} ${res.body?.error?.code}: ${String(res.body?.error?.message).slice(0, 160)}`;
        else await check(res, "add");
      }
      const s = await sys.json("/v1/vectors/index/limits_shard/search", {
        method: "POST",
        json: { vector: Array.from({ length: dim }, (_, j) => Math.sin(j)), k: 100 },
      });
      await check(s, "search");
    });
    rows.push(
      measured(
        `vectors: one shard filled to its bound (${added} × ${dim}-d, ${metaCap} B metadata each)`,
        "lakehouse-vectors",
        vec.use,
        full ? `stopped by ${full}` : "bound not reached",
      ),
    );

    // 4. An observer ring full of maximal events.
    const ringCap = config.observerd.ring_cap;
    const fieldCap = Number(cfg.observerd?.max_summary_bytes ?? 4096);
    const event = (i: number) => ({
      endpoint: `/limits/${i % 50}`.padEnd(200, "e"),
      input_summary: "i".repeat(fieldCap),
      output_summary: "o".repeat(fieldCap),
      error: "x".repeat(fieldCap),
      success: i % 2 === 0,
      duration_ms: i,
      source: "scenario",
      sig_hash: `sig-${i % 7}`,
    });
    const obs = await measureIsolates(sys.persistDir, ["lakehouse-observer"], async () => {
      for (let i = 0; i < ringCap + 200; i += 50) {
        const res = await sys.json("/v1/observer/events", {
          method: "POST",
          json: { events: Array.from({ length: 50 }, (_, j) => event(i + j)) },
        });
        await check(res, "events");
      }
      await check(await sys.json("/v1/observer/stats"), "stats");
    });
    rows.push(
      measured(
        `observer: ring full (${ringCap} ops with every field at its cap)`,
        "lakehouse-observer",
        obs.use,
        `${ringCap + 200} events posted in batches of 50`,
      ),
    );

    // 5. A matrix search over the most corpora allowed.
    const maxCorpora = Number(cfg.matrixd?.max_corpora ?? 16);
    const corpora: string[] = [];
    for (let c = 0; c < maxCorpora; c++) {
      const name = `limits_corpus_${c}`;
      await check(
        await sys.json("/v1/vectors/index", {
          method: "POST",
          json: { name, dimension: 64, distance: "cosine" },
        }),
        "corpus",
      );
      const items = Array.from({ length: 500 }, (_, i) => ({
        id: `c${c}-${i}`,
        vector: Array.from({ length: 64 }, (_, j) => Math.cos(c + i * 0.1 + j)),
        metadata: { c, i },
      }));
      await check(
        await sys.json(`/v1/vectors/index/${name}/add`, { method: "POST", json: { items } }),
        "corpus add",
      );
      corpora.push(name);
    }
    const maxK = config.vectord.max_k;
    // the most hits one search may merge: max(4000, max_k) over every corpus (docs/matrix.md)
    const perCorpus = Math.floor(Math.max(4000, maxK) / maxCorpora);
    const matrix = await measureIsolates(
      sys.persistDir,
      ["lakehouse-matrix", "lakehouse-vectors"],
      async () => {
        const res = await sys.json("/v1/matrix/search", {
          method: "POST",
          json: {
            query_vector: Array.from({ length: 64 }, (_, j) => Math.cos(j)),
            corpora,
            k: maxK,
            per_corpus_k: perCorpus,
          },
        });
        await check(res, "matrix search");
        return res;
      },
    );
    rows.push(
      measured(
        `matrix: one search over ${maxCorpora} corpora, k ${maxK}, per_corpus_k ${perCorpus}`,
        "lakehouse-matrix",
        matrix.use,
        `${matrix.result.body.results.length} results`,
      ),
    );

    notes.push(
      "Peak heap is V8's used heap of the isolate (Runtime.getHeapUsage through workerd's inspector, sampled every 50 ms), against the 128 MB Workers limit; the ratio is the share of the limit used.",
      "CPU is the time the V8 profiler found the measured isolate running (one isolate profiled at a time: all isolates share workerd's thread). Deployed, [limits] cpu_ms in each Worker's wrangler.toml must cover the largest figure of that Worker (docs/deploy.md).",
      "wrangler dev enforces neither limit; these figures are what the same code needs deployed.",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: "limits",
    title: "Worst legal input per service vs the 128 MB isolate",
    ours_label: "peak heap (MiB)",
    peer_label: "limit (MiB)",
    rows,
    notes,
  };
}

// The open lake (issue #13): what an append costs as a dataset grows, what a query pays right
// after one, and the lake at scale.
// - Append cost: LAKE_BENCH_APPENDS (500) appends of 1,000 rows to one dataset through the
//   gateway; p50 of the last 50 vs the first 50 (target ≤ 1.2×), the catalog's database bytes
//   at the end (linear in files) — beside DuckDB appending the same batches to a table, in the
//   same run (its last-50 / first-50 ratio is the peer's).
// - A query right after an append vs the same query with no append since (target ≤ 1.5×).
// - Scale: flights-3m appended LAKE_BENCH_SCALE (10) times by from_key: ingest time per append,
//   the nine SQL bench queries on the result (local engine within its budget, else the answer's
//   `engine` says where it went), peak JS heap of the query and catalog isolates.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { System } from "../../test/e2e/harness.ts";
import { measureIsolates } from "../inspector.ts";
import { multipartUpload, percentile, type Row, round, row, type SuiteResult } from "../lib.ts";
import { QUERIES } from "./sql.ts";

const APPENDS = Number(process.env.LAKE_BENCH_APPENDS ?? 500);
const ROWS_PER_APPEND = 1000;
const SCALE = Number(process.env.LAKE_BENCH_SCALE ?? 10);
const FLIGHTS = resolve("node_modules/vega-datasets/data/flights-3m.parquet");

function batchCsv(batch: number): string {
  const lines = ["id,batch,score,label,ts"];
  for (let i = 0; i < ROWS_PER_APPEND; i++) {
    const id = batch * ROWS_PER_APPEND + i;
    lines.push(
      `${id},${batch},${(id % 997) / 7},label-${id % 31},2026-11-${String(1 + (id % 28)).padStart(2, "0")}T12:00:00Z`,
    );
  }
  return lines.join("\n") + "\n";
}

function p50(xs: number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

async function ingestCsv(
  sys: System,
  name: string,
  csv: string,
  mode: "append" | "replace",
): Promise<number> {
  const t0 = performance.now();
  const res = await sys.fetch(`/v1/ingest?name=${name}&mode=${mode}`, {
    method: "POST",
    headers: { "content-type": "text/csv" },
    body: csv,
  });
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`ingest ${name}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
  return ms;
}

async function sql(sys: System, text: string, engine?: string): Promise<{ ms: number; body: any }> {
  const t0 = performance.now();
  const res = await sys.json("/v1/sql", {
    method: "POST",
    json: { sql: text, ...(engine ? { engine } : {}) },
  });
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`sql ${text}: ${res.status} ${JSON.stringify(res.body)}`);
  return { ms, body: res.body };
}

export async function run(sys: System): Promise<SuiteResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lakehouse-bench-lake-"));
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  await con.run("SET threads = 1");
  try {
    // ---- append cost ----
    const ours: number[] = [];
    const peer: number[] = [];
    await con.run(
      "CREATE TABLE appends (id BIGINT, batch BIGINT, score DOUBLE, label VARCHAR, ts TIMESTAMPTZ)",
    );
    const statsAt: { appends: number; bytes: number; files: number }[] = [];
    for (let b = 0; b < APPENDS; b++) {
      const csv = batchCsv(b);
      ours.push(await ingestCsv(sys, "lake_appends", csv, b === 0 ? "replace" : "append"));
      const path = join(dir, "batch.csv");
      await import("node:fs").then((fs) => fs.writeFileSync(path, csv));
      const t0 = performance.now();
      await con.run(`INSERT INTO appends SELECT * FROM read_csv('${path}')`);
      peer.push(performance.now() - t0);
      if ((b + 1) % 100 === 0 || b === 49) {
        const s = (await sys.json("/v1/catalog/stats")).body;
        statsAt.push({ appends: b + 1, bytes: s.database_bytes, files: s.files });
      }
    }
    const first = ours.slice(0, 50);
    const last = ours.slice(-50);
    const growth = p50(last) / p50(first);
    const peerGrowth = p50(peer.slice(-50)) / p50(peer.slice(0, 50));
    rows.push(
      row(
        `append p50, first 50 (${ROWS_PER_APPEND} rows each)`,
        p50(first),
        p50(peer.slice(0, 50)),
        "ms",
      ),
    );
    rows.push(
      row(`append p50, last 50 (after ${APPENDS - 50})`, p50(last), p50(peer.slice(-50)), "ms"),
    );
    rows.push(
      row("append growth: last-50 p50 / first-50 p50 (target ≤ 1.2)", growth, peerGrowth, "×"),
    );
    const end = statsAt.at(-1)!;
    rows.push(
      row(
        `catalog database bytes after ${APPENDS} appends`,
        end.bytes,
        NaN,
        "bytes",
        `${end.files} files`,
      ),
    );
    notes.push(
      `Append growth ${round(growth, 2)}× (target ≤ 1.2×: ${growth <= 1.2 ? "met" : "MISSED"}). Catalog database bytes by appends: ${statsAt.map((s) => `${s.appends}: ${s.bytes}`).join(", ")} — ` +
        `per 100 appends after the first 100: ${statsAt
          .slice(1)
          .map((s, i) => s.bytes - statsAt[i]!.bytes)
          .join(", ")} bytes (linear when these stay flat).`,
    );
    const total = await sql(
      sys,
      "SELECT count(*) AS n, count(DISTINCT batch) AS b FROM lake_appends",
    );
    if (total.body.rows[0][0] !== APPENDS * ROWS_PER_APPEND)
      throw new Error(
        `lake_appends has ${total.body.rows[0][0]} rows, expected ${APPENDS * ROWS_PER_APPEND}`,
      );

    // ---- a query right after an append vs with no append since ----
    const q =
      "SELECT label, count(*) AS n, avg(score) AS s FROM lake_appends GROUP BY label ORDER BY label";
    const steady: number[] = [];
    const after: number[] = [];
    const peerAfter: number[] = [];
    for (let i = 0; i < 20; i++) {
      steady.push((await sql(sys, q)).ms);
      await ingestCsv(sys, "lake_appends", batchCsv(APPENDS + i), "append");
      after.push((await sql(sys, q)).ms);
      const t0 = performance.now();
      await con.runAndReadAll(
        "SELECT label, count(*) AS n, avg(score) AS s FROM appends GROUP BY label ORDER BY label",
      );
      peerAfter.push(performance.now() - t0);
    }
    // the same with the columnar path off (SQLite answers): what the columnar cache's rebuild costs
    const steadySqlite: number[] = [];
    const afterSqlite: number[] = [];
    for (let i = 0; i < 20; i++) {
      steadySqlite.push((await sql(sys, q, "sqlite")).ms);
      await ingestCsv(sys, "lake_appends", batchCsv(APPENDS + 20 + i), "append");
      afterSqlite.push((await sql(sys, q, "sqlite")).ms);
    }
    rows.push(
      row("query p50 (engine sqlite), no append since", p50(steadySqlite), p50(peerAfter), "ms"),
    );
    rows.push(
      row(
        "query p50 (engine sqlite), right after an append",
        p50(afterSqlite),
        p50(peerAfter),
        "ms",
      ),
    );
    rows.push(
      row(
        "query after append / steady, engine sqlite",
        p50(afterSqlite) / p50(steadySqlite),
        1,
        "×",
      ),
    );
    const afterRatio = p50(after) / p50(steady);
    rows.push(row("query p50, no append since", p50(steady), p50(peerAfter), "ms"));
    rows.push(row("query p50, right after an append", p50(after), p50(peerAfter), "ms"));
    rows.push(row("query after append / steady (target ≤ 1.5)", afterRatio, 1, "×"));
    notes.push(
      `Query right after an append: ${round(afterRatio, 2)}× the steady p50 (target ≤ 1.5×: ${afterRatio <= 1.5 ? "met" : "MISSED"}).`,
    );

    // ---- scale: flights-3m appended SCALE times by from_key ----
    if (SCALE > 0) {
      // Each copy is the same rows rotated by i (other bytes: identical content would be one object, not an append).
      const csvPath = join(dir, "flights.csv");
      const writeCopy = async (i: number) =>
        con.run(
          `COPY (SELECT * FROM (SELECT * FROM read_parquet('${FLIGHTS}') OFFSET ${i}) UNION ALL SELECT * FROM (SELECT * FROM read_parquet('${FLIGHTS}') LIMIT ${i})) TO '${csvPath}' (HEADER, DELIMITER ',')`,
        );
      await writeCopy(0);
      const csvBytes = statSync(csvPath).size;
      const ingestMs: number[] = [];
      const heap = await measureIsolates(
        sys.persistDir,
        ["lakehouse-query", "lakehouse-catalog", "lakehouse-ingest"],
        async () => {
          for (let i = 0; i < SCALE; i++) {
            const key = `_bench/flights-${i}.csv`;
            await writeCopy(i);
            await multipartUpload(sys, csvPath, key);
            const t0 = performance.now();
            const res = await sys.json(
              `/v1/ingest?name=lake_flights&mode=${i === 0 ? "replace" : "append"}&from_key=${encodeURIComponent(key)}`,
              { method: "POST" },
            );
            ingestMs.push(performance.now() - t0);
            if (res.status !== 200)
              throw new Error(`ingest flights #${i}: ${res.status} ${JSON.stringify(res.body)}`);
            await sys.fetch(`/v1/storage/objects/${key}`, { method: "DELETE" });
          }
          // The replicas load the appends in the background; a query waits for its dataset's load
          // (at most [queryd].timeout_ms each try), so the first count may need a few tries.
          const t0 = performance.now();
          for (let attempt = 1; ; attempt++) {
            try {
              const counted = await sql(sys, "SELECT count(*) AS n FROM lake_flights");
              notes.push(
                `Scale: lake_flights holds ${counted.body.rows[0][0]} rows (${SCALE} × flights-3m), answered by ${counted.body.engine} after ${round((performance.now() - t0) / 1000, 1)} s (${attempt} tries; the first waits for the replica to finish loading).`,
              );
              break;
            } catch (err) {
              if (attempt >= 10) throw err;
            }
          }
        },
      );
      const mbps = csvBytes / 1024 / 1024 / (p50(ingestMs) / 1000);
      rows.push(
        row(
          `scale: ingest one flights-3m append by from_key (p50 of ${SCALE})`,
          p50(ingestMs),
          NaN,
          "ms",
          `${round(mbps, 1)} MB/s of CSV; first ${round(ingestMs[0]!)} ms, last ${round(ingestMs.at(-1)!)} ms`,
        ),
      );
      await con.run(
        `CREATE VIEW flights AS SELECT * FROM read_parquet([${Array.from({ length: SCALE }, () => `'${FLIGHTS}'`).join(", ")}])`,
      );
      const airports = resolve("node_modules/vega-datasets/data/airports.csv");
      await con.run(`CREATE TABLE airports AS SELECT * FROM read_csv('${airports}')`);
      await ingestCsv(
        sys,
        "airports",
        (await import("node:fs")).readFileSync(airports, "utf8"),
        "replace",
      );
      for (const query of QUERIES) {
        const text = query.sql.replaceAll(/\bflights\b/g, "lake_flights");
        let ourMs = NaN;
        let engine = "";
        try {
          const r = await sql(sys, text);
          ourMs = r.ms;
          engine = r.body.engine;
        } catch (err) {
          notes.push(`Scale query "${query.name}" failed: ${(err as Error).message.slice(0, 300)}`);
        }
        const t0 = performance.now();
        await con.runAndReadAll(query.duckdb ?? query.sql);
        rows.push(
          row(
            `scale: ${query.name}`,
            ourMs,
            performance.now() - t0,
            "ms",
            engine ? `engine ${engine}` : "failed",
          ),
        );
      }
      for (const u of heap.use) {
        rows.push(
          row(
            `scale: peak JS heap, ${u.worker}`,
            u.peak_heap_mb,
            128,
            "MiB",
            "peer = the 128 MB isolate limit",
          ),
        );
      }
    }
  } finally {
    con.closeSync?.();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: "lake",
    title: "Open lake: append cost, query after append, scale",
    ours_label: "lakehouse",
    peer_label: "DuckDB (threads=1) / limit",
    rows,
    notes,
  };
}

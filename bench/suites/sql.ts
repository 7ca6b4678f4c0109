// SQL over the lake: flights-3m.parquet (vega-datasets, 3M rows) written as CSV by DuckDB,
// uploaded and ingested by from_key (the catalog's change notification starts the engine's load in the
// background), airports.csv ingested through /v1/ingest. Then a fixed
// set of analytic queries through POST /v1/sql (first run and warm p50), DuckDB native
// (SET threads=1) on the same Parquet files, and squirreling over hyparquet, in one run;
// every answer of ours is cross-checked against DuckDB's.

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { decompress as zstdDecompress } from "fzstd";
import { type AsyncBuffer, parquetMetadataAsync, parquetRead } from "hyparquet";
import { type AsyncDataSource, collect, executeSql } from "squirreling";
import type { System } from "../../test/e2e/harness.ts";
import { findWorkerdInspector } from "../inspector.ts";
import {
  geomean,
  multipartUpload,
  percentile,
  type Row,
  round,
  row,
  type SuiteResult,
} from "../lib.ts";

const FLIGHTS = resolve("node_modules/vega-datasets/data/flights-3m.parquet");
const AIRPORTS = resolve("node_modules/vega-datasets/data/airports.csv");
const WARM_RUNS = Number(process.env.SQL_BENCH_WARM_RUNS ?? 3);
/** issue #14: every query within 10× DuckDB single-threaded (warm p50), the geometric mean within 5× */
const PER_QUERY_TARGET = 10;
const GEOMEAN_TARGET = 5;

interface Query {
  name: string;
  sql: string;
  duckdb?: string;
  squirrel?: string | null; // null: squirreling cannot express it
}

export const QUERIES: Query[] = [
  { name: "count with filter", sql: "SELECT count(*) AS n FROM flights WHERE delay > 60" },
  {
    name: "count, two-column filter",
    sql: "SELECT count(*) AS n, avg(delay) AS avg_delay FROM flights WHERE origin = 'SFO' AND distance > 1000",
  },
  {
    name: "group-by aggregates",
    sql: "SELECT origin, count(*) AS n, avg(delay) AS avg_delay FROM flights GROUP BY origin ORDER BY n DESC, origin LIMIT 10",
  },
  {
    name: "group-by pair + having",
    sql: "SELECT origin, destination, count(*) AS n, avg(distance) AS dist FROM flights GROUP BY origin, destination HAVING count(*) > 5000 ORDER BY n DESC, origin, destination",
  },
  {
    name: "whole-table stats",
    sql: "SELECT min(delay) AS lo, max(delay) AS hi, sum(distance) AS total, avg(distance) AS mean FROM flights",
  },
  {
    name: "top-N by delay",
    sql: "SELECT origin, destination, delay, distance FROM flights ORDER BY delay DESC, distance DESC, origin, destination LIMIT 10",
  },
  { name: "distinct count", sql: "SELECT count(DISTINCT destination) AS n FROM flights" },
  {
    name: "flights per month",
    sql: "SELECT substr(date, 1, 7) AS month, count(*) AS n FROM flights GROUP BY month ORDER BY month",
    duckdb:
      "SELECT strftime(date, '%Y-%m') AS month, count(*) AS n FROM flights GROUP BY month ORDER BY month",
    squirrel: null,
  },
  {
    name: "join with airports",
    sql: "SELECT a.state, count(*) AS n, avg(f.delay) AS avg_delay FROM flights f JOIN airports a ON a.iata = f.origin GROUP BY a.state ORDER BY n DESC, a.state LIMIT 10",
  },
];

function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || b === null || a === undefined || b === undefined)
    return (a ?? null) === (b ?? null);
  const na =
    typeof a === "number"
      ? a
      : typeof a === "string" && a.trim() !== "" && !Number.isNaN(Number(a))
        ? Number(a)
        : NaN;
  const nb =
    typeof b === "number"
      ? b
      : typeof b === "string" && b.trim() !== "" && !Number.isNaN(Number(b))
        ? Number(b)
        : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb))
    return Math.abs(na - nb) <= 1e-9 * Math.max(1, Math.abs(na), Math.abs(nb));
  return String(a) === String(b);
}

export function sameRows(ours: unknown[][], theirs: unknown[][]): string | null {
  if (ours.length !== theirs.length) return `row count ${ours.length} vs ${theirs.length}`;
  for (let r = 0; r < ours.length; r++) {
    const a = ours[r]!;
    const b = theirs[r]!;
    if (a.length !== b.length) return `row ${r}: ${a.length} vs ${b.length} columns`;
    for (let c = 0; c < a.length; c++)
      if (!sameValue(a[c], b[c]))
        return `row ${r} col ${c}: ${JSON.stringify(a[c])} vs ${JSON.stringify(b[c])}`;
  }
  return null;
}

/** squirreling data source over a local Parquet file, read a row group at a time with hyparquet. */
function parquetSource(path: string, columns: string[], maxRowGroups = Infinity): AsyncDataSource {
  const bytes = readFileSync(path);
  const file: AsyncBuffer = {
    byteLength: bytes.byteLength,
    slice: async (s, e) =>
      bytes.buffer.slice(bytes.byteOffset + s, bytes.byteOffset + (e ?? bytes.byteLength)),
  };
  const compressors = {
    ZSTD: (input: Uint8Array, n: number) => zstdDecompress(input, new Uint8Array(n)),
  };
  return {
    columns,
    scan({ columns: wanted }) {
      const cols = wanted ?? columns;
      return {
        appliedWhere: false,
        appliedLimitOffset: false,
        async *rows() {
          const metadata = await parquetMetadataAsync(file);
          let start = 0;
          for (const rg of metadata.row_groups.slice(0, maxRowGroups)) {
            const n = Number(rg.num_rows);
            let rows: unknown[][] = [];
            await parquetRead({
              file,
              metadata,
              columns: cols,
              rowStart: start,
              rowEnd: start + n,
              compressors,
              onComplete: (r) => (rows = r),
            });
            start += n;
            for (const values of rows) {
              const resolved: Record<string, any> = {};
              const cells: Record<string, () => Promise<any>> = {};
              cols.forEach((c, i) => {
                let v = values[i];
                if (typeof v === "bigint") v = Number(v);
                resolved[c] = v;
                cells[c] = () => Promise.resolve(v);
              });
              yield { columns: cols, cells, resolved };
            }
          }
        },
      };
    },
  };
}

const SQUIRREL_TIMEOUT_MS = 45_000;
// squirreling takes minutes and gigabytes on all 3M rows (a plain count with a filter ran out of a 3 GB heap,
// then did not finish in 120 s with 6 GB): it is measured on the first row group (272,727 rows, 9.1%).
const SQUIRREL_ROW_GROUPS = 1;
const SQUIRREL_ROWS = 272_727;

/** Runs query `index` with squirreling in a child Node (6 GB heap cap, 45 s cap): ms, or why not. Async, so the
 *  bench keeps draining wrangler's output pipes meanwhile. */
function squirrelInChild(index: number, airportFiles: string[]): Promise<number | string> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [
        "--max-old-space-size=6144",
        resolve("bench/suites/sql.ts"),
        "--squirrel",
        String(index),
        ...airportFiles,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), SQUIRREL_TIMEOUT_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) return done((JSON.parse(line) as { ms: number }).ms);
      if (signal === "SIGKILL")
        return done(`did not finish within ${SQUIRREL_TIMEOUT_MS / 1000} s`);
      if (/heap out of memory/.test(err)) return done("ran out of its 6 GB heap");
      done(
        `failed (exit ${code}): ${err
          .trim()
          .split("\n")
          .filter((l) => !/^\s+at /.test(l))
          .slice(-2)
          .join(" ")
          .slice(0, 200)}`,
      );
    });
  });
}

if (process.argv[2] === "--squirrel") {
  const q = QUERIES[Number(process.argv[3])]!;
  const airportFiles = process.argv.slice(4);
  let airports: unknown[] = [];
  if (airportFiles.length) {
    const duck = await DuckDBInstance.create(":memory:");
    const con = await duck.connect();
    airports = (
      await con.runAndReadAll(
        `SELECT * FROM read_parquet([${airportFiles.map((f) => `'${f}'`).join(", ")}])`,
      )
    ).getRowObjectsJson();
    con.closeSync();
  }
  const tables = {
    flights: parquetSource(
      FLIGHTS,
      ["date", "delay", "distance", "origin", "destination"],
      SQUIRREL_ROW_GROUPS,
    ),
    ...(airports.length ? { airports } : {}),
  };
  const s = performance.now();
  await collect(executeSql({ tables: tables as never, query: q.squirrel ?? q.sql }));
  console.log(JSON.stringify({ ms: performance.now() - s }));
  process.exit(0);
}

/**
 * Peak memory of the query Worker's isolate (where the QueryEngine objects and their columnar cache
 * live) while `work` runs: CDP Runtime.getHeapUsage through workerd's own inspector, sampled every
 * 50 ms — the JS heap (`usedSize`) and the ArrayBuffers' backing stores (`backingStorageSize`: the
 * typed columns), both of which count against the 128 MB isolate limit.
 */
async function queryIsolatePeak(
  persistDir: string,
  work: () => Promise<void>,
): Promise<{ heap_mib: number; buffers_mib: number }> {
  const host = await findWorkerdInspector(persistDir);
  const targets = (await (await fetch(`http://${host}/json`)).json()) as {
    id: string;
    webSocketDebuggerUrl?: string;
  }[];
  const target = targets.find((t) => t.id === "core:user:lakehouse-query");
  if (!target) throw new Error("no inspector target for lakehouse-query");
  const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://${host}/${target.id}`);
  await new Promise((resolveOpen, reject) => ((ws.onopen = resolveOpen), (ws.onerror = reject)));
  let next = 0;
  const pending = new Map<number, (v: { result?: Record<string, number> }) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, number> };
    if (m.id !== undefined) pending.get(m.id)?.(m);
  };
  const usage = () =>
    new Promise<Record<string, number>>((done) => {
      const id = ++next;
      const timer = setTimeout(() => done({}), 5000);
      pending.set(id, (m) => (clearTimeout(timer), pending.delete(id), done(m.result ?? {})));
      ws.send(JSON.stringify({ id, method: "Runtime.getHeapUsage", params: {} }));
    });
  let heap = 0;
  let buffers = 0;
  let finished = false;
  const sampler = (async () => {
    while (!finished) {
      const u = await usage();
      heap = Math.max(heap, u.usedSize ?? 0);
      buffers = Math.max(buffers, u.backingStorageSize ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await work();
  } finally {
    finished = true;
    await sampler;
    ws.close();
  }
  return { heap_mib: round(heap / 2 ** 20, 1), buffers_mib: round(buffers / 2 ** 20, 1) };
}

/** Peak and current RSS of the workerd process(es) under this system's wrangler dev. */
function workerdMemory(persistDir: string): { rss_mb: number; peak_mb: number } | null {
  const procs = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  const info = new Map<string, { ppid: string; cmd: string; comm: string }>();
  for (const p of procs) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!;
      info.set(p, {
        ppid,
        cmd: readFileSync(`/proc/${p}/cmdline`, "utf8"),
        comm: readFileSync(`/proc/${p}/comm`, "utf8").trim(),
      });
    } catch {
      // gone
    }
  }
  const roots = [...info].filter(([, v]) => v.cmd.includes(persistDir)).map(([p]) => p);
  const all = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, v] of info) if (!all.has(p) && all.has(v.ppid)) all.add(p), (grew = true);
  }
  let rss = 0;
  let peak = 0;
  for (const p of all) {
    if (info.get(p)?.comm !== "workerd") continue;
    const status = readFileSync(`/proc/${p}/status`, "utf8");
    rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    peak += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }
  return peak ? { rss_mb: round(rss, 1), peak_mb: round(peak, 1) } : null;
}

export async function run(sys: System): Promise<SuiteResult> {
  const notes: string[] = [];
  const rows: Row[] = [];
  const memBefore = workerdMemory(sys.persistDir);

  // 1. flights: the Parquet file as CSV (DuckDB writes it), uploaded through storage multipart and
  // ingested by from_key, as a user with a big file does (registration is internal to the ingest).
  // The catalog's change notification starts the engine's load in the background (waitUntil, since
  // issue #13): the ingest returns before it, and the first query waits for what is left of it.
  const csvDir = mkdtempSync(join(tmpdir(), "sql-bench-csv-"));
  const csvPath = join(csvDir, "flights.csv");
  {
    const d = await DuckDBInstance.create(":memory:");
    const c = await d.connect();
    await c.run(
      `COPY (SELECT * FROM read_parquet('${FLIGHTS}')) TO '${csvPath}' (HEADER, DELIMITER ',')`,
    );
    c.closeSync();
    d.closeSync();
  }
  const key = "_uploads/bench/flights-3m.csv";
  await multipartUpload(sys, csvPath, key);
  const csvBytes = statSync(csvPath).size;
  rmSync(csvDir, { recursive: true, force: true });
  const t0 = performance.now();
  const reg = await sys.json(`/v1/ingest?name=flights&from_key=${key}`, { method: "POST" });
  const registerMs = performance.now() - t0;
  if (reg.status !== 200)
    throw new Error(`flights ingest failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const memAfterLoad = workerdMemory(sys.persistDir);

  // 2. airports through the CSV ingest
  const ing = await sys.json("/v1/ingest?name=airports", {
    method: "POST",
    headers: { "content-type": "text/csv" },
    body: readFileSync(AIRPORTS),
  });
  if (ing.status !== 200)
    throw new Error(`ingest failed: ${ing.status} ${JSON.stringify(ing.body)}`);
  notes.push(
    `First touch: ingesting flights by from_key (3,000,000 rows, ${(csvBytes / 1e6).toFixed(1)} MB of CSV written by DuckDB from flights-3m.parquet) took ${Math.round(registerMs)} ms end to end ` +
      `(CSV → Parquet and registration; the engine loads the new version in the background, so the first query's time includes waiting for that load).`,
  );

  // 3. DuckDB native on the same Parquet (airports: the object our ingest wrote, fetched from storage)
  const dir = mkdtempSync(join(tmpdir(), "sql-bench-"));
  const manifest = (await sys.json("/v1/catalog/manifest/airports")).body as {
    objects: { key: string }[];
  };
  const airportFiles: string[] = [];
  for (const [i, o] of manifest.objects.entries()) {
    const res = await sys.fetch(`/v1/storage/objects/${o.key}`);
    const f = join(dir, `airports-${i}.parquet`);
    writeFileSync(f, Buffer.from(await res.arrayBuffer()));
    airportFiles.push(f);
  }
  const duck = await DuckDBInstance.create(":memory:");
  const con = await duck.connect();
  await con.run("SET threads = 1");
  await con.run(`CREATE VIEW flights AS SELECT * FROM read_parquet('${FLIGHTS}')`);
  await con.run(
    `CREATE VIEW airports AS SELECT * FROM read_parquet([${airportFiles.map((f) => `'${f}'`).join(", ")}])`,
  );

  const oursWarm: number[] = [];
  const duckWarm: number[] = [];
  const ratios: number[] = [];
  const mismatches: string[] = [];
  const missed: string[] = [];
  for (const q of QUERIES) {
    const ask = async () => {
      const s = performance.now();
      const res = await sys.json("/v1/sql", { method: "POST", json: { sql: q.sql } });
      const ms = performance.now() - s;
      if (res.status !== 200)
        throw new Error(`${q.name}: ${res.status} ${JSON.stringify(res.body)}`);
      return { ms, rows: res.body.rows as unknown[][], engine: res.body.engine as string };
    };
    const duckAsk = async () => {
      const s = performance.now();
      const reader = await con.runAndReadAll(q.duckdb ?? q.sql);
      const out = reader.getRowsJson() as unknown[][];
      return { ms: performance.now() - s, rows: out };
    };
    const first = await ask();
    const duckFirst = await duckAsk();
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      ours.push((await ask()).ms);
      theirs.push((await duckAsk()).ms);
    }
    ours.sort((a, b) => a - b);
    theirs.sort((a, b) => a - b);
    const p50 = percentile(ours, 50);
    const dp50 = percentile(theirs, 50);
    const diff = sameRows(first.rows, duckFirst.rows);
    if (diff) mismatches.push(`${q.name}: ${diff}`);
    let squirrelMs = NaN;
    if (q.squirrel !== null && process.env.SQL_BENCH_SQUIRREL !== "0") {
      const out = await squirrelInChild(QUERIES.indexOf(q), airportFiles);
      if (typeof out === "number") squirrelMs = out;
      else notes.push(`squirreling on "${q.name}": ${out}`);
    }
    oursWarm.push(p50);
    duckWarm.push(dp50);
    ratios.push(p50 / dp50);
    const sq = Number.isNaN(squirrelMs)
      ? "squirreling n/a"
      : `squirreling ${Math.round(squirrelMs)} ms on ${SQUIRREL_ROWS} rows (≈${round((squirrelMs * (3_000_000 / SQUIRREL_ROWS)) / dp50, 0)}× DuckDB if linear)`;
    rows.push(
      row(
        `${q.name} — warm p50`,
        p50,
        dp50,
        "ms",
        `engine ${first.engine}; first run: ours ${Math.round(first.ms)} ms, DuckDB ${Math.round(duckFirst.ms)} ms; ${sq}`,
      ),
    );
    const ratio = p50 / dp50;
    console.log(
      `  ${q.name}: ours p50 ${p50.toFixed(1)} ms (first ${first.ms.toFixed(0)}, ${first.engine}), duckdb p50 ${dp50.toFixed(1)} ms, ` +
        `ratio ${ratio.toFixed(2)}× (target ≤ ${PER_QUERY_TARGET}×${ratio > PER_QUERY_TARGET ? ": MISSED" : ""}), ${sq}${diff ? `, MISMATCH ${diff}` : ""}`,
    );
    if (ratio > PER_QUERY_TARGET) missed.push(`${q.name} ${round(ratio, 2)}×`);
  }
  const gm = geomean(ratios);
  // memory of the query isolate while every query runs once more (its columnar cache holds their columns)
  try {
    const peak = await queryIsolatePeak(sys.persistDir, async () => {
      for (const q of QUERIES) await sys.json("/v1/sql", { method: "POST", json: { sql: q.sql } });
    });
    console.log(
      `  query isolate while answering all nine: peak JS heap ${peak.heap_mib} MiB, peak ArrayBuffer backing stores ${peak.buffers_mib} MiB (limit 128 MB)`,
    );
    notes.push(
      `Query isolate (QueryEngine + columnar cache) while answering the nine queries once more: peak JS heap ${peak.heap_mib} MiB and peak ArrayBuffer backing stores (the typed columns) ${peak.buffers_mib} MiB, ` +
        `read through workerd's inspector (Runtime.getHeapUsage every 50 ms); the isolate limit is 128 MB.`,
    );
  } catch (err) {
    notes.push(
      `Query isolate memory not measured: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  console.log(
    `  geometric mean ${gm.toFixed(2)}× (target ≤ ${GEOMEAN_TARGET}×${gm > GEOMEAN_TARGET ? ": MISSED" : ""}); per query ≤ ${PER_QUERY_TARGET}×: ${missed.length ? `missed by ${missed.join(", ")}` : "all met"}`,
  );
  rows.push(
    row(
      "geometric mean of warm p50 ratios",
      gm,
      1,
      "×",
      `target ≤ ${GEOMEAN_TARGET}× DuckDB single-threaded, and each query ≤ ${PER_QUERY_TARGET}×`,
    ),
  );
  const memEnd = workerdMemory(sys.persistDir);
  con.closeSync();
  duck.closeSync();
  rmSync(dir, { recursive: true, force: true });

  notes.push(
    `Warm geometric mean ${round(gm, 2)}× DuckDB (target ≤ ${GEOMEAN_TARGET}×: ${gm <= GEOMEAN_TARGET ? "met" : "MISSED"}); every query ≤ ${PER_QUERY_TARGET}×: ${missed.length ? `MISSED by ${missed.join(", ")}` : "met"}; ` +
      `${WARM_RUNS} warm runs per query, each through the gateway (HTTP, auth, catalog freshness check, Durable Object RPC).`,
  );
  notes.push(
    mismatches.length
      ? `Cross-check MISMATCHES: ${mismatches.join("; ")}`
      : `All ${QUERIES.length} answers equal DuckDB's (floats within 1e-9 relative).`,
  );
  if (memBefore && memAfterLoad && memEnd) {
    notes.push(
      `workerd process RSS (all eleven Workers in one local process): ${memBefore.rss_mb} MB before, peak ${memAfterLoad.peak_mb} MB after loading flights, ` +
        `peak ${memEnd.peak_mb} MB after all queries (includes SQLite's page cache; an upper bound on any one isolate's heap).`,
    );
  }
  notes.push(
    "DuckDB: @duckdb/node-api in the bench process, SET threads = 1, views over the same Parquet files. squirreling: one run per query over hyparquet row-group scans of the FIRST ROW GROUP ONLY (272,727 of 3M rows; on all rows it ran out of 3 GB, and did not finish in 120 s with 6 GB), in a child Node; its ratio is extrapolated linearly and marked so.",
  );
  return {
    name: "sql",
    title: "SQL over the lake vs DuckDB native (flights-3m)",
    ours_label: "ours /v1/sql",
    peer_label: "DuckDB 1 thread",
    rows,
    notes,
  };
}

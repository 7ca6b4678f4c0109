// Ingest throughput: our CSV → Parquet through the gateway vs DuckDB's native
// COPY (FROM read_csv(...)) TO '...parquet' with SET threads=1, on the same ≥ 1M-row CSV
// made from vega-datasets' flights-3m.parquet, in one run. MB/s of CSV; peak memory of
// the wrangler/workerd process tree (ours) and of this process (DuckDB runs in-process).
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { System } from "../../test/e2e/harness.ts";
import { round, row, type SuiteResult } from "../lib.ts";

const ROWS = 1_000_000;
const MB = 1024 * 1024;

/** Pids of the wrangler process running on `persistDir` and all its descendants. */
function processTree(persistDir: string): number[] {
  const procs = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  const parent = new Map<number, number>();
  let root: number | undefined;
  for (const p of procs) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      if (root === undefined && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(persistDir)) root = Number(p);
    } catch {
      // gone
    }
  }
  if (root === undefined) return [];
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, pp] of parent) if (pp === tree[i]) tree.push(pid);
  return tree;
}

function rssOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/** Runs `fn` while sampling `measure()` every 25 ms; returns the result, seconds and the peak. */
async function peakDuring<T>(measure: () => number, fn: () => Promise<T>): Promise<{ result: T; seconds: number; peak: number; before: number }> {
  const before = measure();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, measure())), 25);
  const t0 = performance.now();
  try {
    const result = await fn();
    return { result, seconds: (performance.now() - t0) / 1000, peak: Math.max(peak, measure()), before };
  } finally {
    clearInterval(timer);
  }
}

export async function run(sys: System): Promise<SuiteResult> {
  const dir = mkdtempSync(join(tmpdir(), "lakehouse-bench-ingest-"));
  try {
    const csvPath = join(dir, "flights.csv");
    const flights = resolve("node_modules/vega-datasets/data/flights-3m.parquet");
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    await con.run(`COPY (SELECT * FROM read_parquet('${flights}') LIMIT ${ROWS}) TO '${csvPath}' (HEADER, DELIMITER ',')`);
    const csvBytes = statSync(csvPath).size;
    const csv = readFileSync(csvPath);
    const mb = csvBytes / MB;

    // DuckDB native, one thread.
    await con.run("SET threads = 1");
    const duck = await peakDuring(
      () => process.memoryUsage().rss,
      () => con.run(`COPY (FROM read_csv('${csvPath}')) TO '${join(dir, "duck.parquet")}' (FORMAT parquet)`),
    );
    const duckRows = Number((await con.runAndReadAll(`SELECT count(*) FROM read_parquet('${join(dir, "duck.parquet")}')`)).getRows()[0]![0]);

    // Ours: the CSV as a raw body through the gateway (staged in storage, converted, registered).
    const pids = processTree(sys.persistDir);
    const ours = await peakDuring(
      () => rssOf(pids),
      async () => {
        const res = await sys.fetch("/v1/ingest?name=bench_flights&mode=replace", {
          method: "POST",
          body: csv,
          headers: { "content-type": "text/csv" },
        });
        const body = (await res.json()) as { row_count?: number; objects?: { key: string }[]; error?: unknown };
        if (res.status !== 200) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(body)}`);
        return body;
      },
    );
    if (ours.result.row_count !== ROWS) throw new Error(`ingest wrote ${ours.result.row_count} rows, expected ${ROWS}`);

    // Ours from an object already in storage (from_key): the conversion alone, no upload or staging.
    const put = await sys.fetch("/v1/storage/objects/bench/flights.csv", { method: "PUT", body: csv });
    if (put.status !== 200) throw new Error(`upload failed: ${put.status}`);
    const fromKey = await peakDuring(
      () => rssOf(pids),
      async () => {
        const res = await sys.fetch("/v1/ingest?name=bench_flights_key&from_key=bench/flights.csv", { method: "POST" });
        const body = (await res.json()) as { row_count?: number };
        if (res.status !== 200) throw new Error(`from_key ingest failed: ${res.status} ${JSON.stringify(body)}`);
        return body;
      },
    );
    // Cross-check: DuckDB reads our Parquet with the same row count.
    const ourKey = ours.result.objects![0]!.key;
    const pqBytes = Buffer.from(await (await sys.fetch(`/v1/storage/objects/${ourKey}`)).arrayBuffer());
    const ourPq = join(dir, "ours.parquet");
    (await import("node:fs")).writeFileSync(ourPq, pqBytes);
    const ourRows = Number((await con.runAndReadAll(`SELECT count(*) FROM read_parquet('${ourPq}')`)).getRows()[0]![0]);
    con.closeSync();
    db.closeSync();
    await sys.fetch("/v1/catalog/manifest/bench_flights", { method: "DELETE" });
    await sys.fetch("/v1/catalog/manifest/bench_flights_key", { method: "DELETE" });
    await sys.fetch("/v1/storage/objects/bench/flights.csv", { method: "DELETE" });

    const duckMBs = mb / duck.seconds;
    const oursMBs = mb / ours.seconds;
    const keyMBs = mb / fromKey.seconds;
    const rows = [
      { ...row("throughput, CSV body through the gateway", oursMBs, duckMBs, "MB/s"), ratio: round(oursMBs / duckMBs) },
      { ...row("throughput, from_key (object already in storage)", keyMBs, duckMBs, "MB/s"), ratio: round(keyMBs / duckMBs) },
      row("wall time, CSV body", ours.seconds, duck.seconds, "s"),
      row("peak memory growth during ingest", (ours.peak - ours.before) / MB, (duck.peak - duck.before) / MB, "MiB", "ours: wrangler+workerd tree RSS; DuckDB: this process RSS"),
      row("Parquet size", pqBytes.byteLength / MB, statSync(join(dir, "duck.parquet")).size / MB, "MiB"),
    ];
    const target = oursMBs / duckMBs >= 0.5 ? "met" : "MISSED";
    return {
      name: "ingest",
      title: "CSV → Parquet ingest throughput",
      ours_label: "lakehouse ingest",
      peer_label: "DuckDB COPY, threads=1",
      rows,
      notes: [
        `${ROWS} rows (${round(mb, 1)} MiB of CSV) from vega-datasets flights-3m.parquet; both read the same file; DuckDB wrote ${duckRows} rows, DuckDB read ${ourRows} rows back from our Parquet.`,
        `For throughput rows the ratio is ours/peer (higher is better); target ≥ 0.5× DuckDB: ${target} (${round(oursMBs / duckMBs)}×).`,
        "Ours runs in local workerd under wrangler dev (gateway → ingest → storage/catalog over service bindings, local R2 on disk) on the same 2 cores as the client; the body path includes staging the CSV in R2.",
        `Peak resident memory of the wrangler+workerd tree was ${round(ours.peak / MB, 1)} MiB (body) / ${round(fromKey.peak / MB, 1)} MiB (from_key); the growth row subtracts the idle level.`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

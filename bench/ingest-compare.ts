// Side by side, in Node, the candidates for ingest's CSV → Parquet path (docs/ingest.md):
//  1. CSV parsers on the same 1M-row flights CSV: our byte tokeniser (csv-bytes.ts), d3-dsv's
//     csvParseRows, papaparse (fastMode), udsv (the previous string parser, csv.ts before
//     issue #14, measured 24.5 MB/s here: docs/ingest.md);
//  2. Parquet writers given the same typed columns: our typed writer (parquet-encode.ts),
//     hyparquet-writer (typed arrays, dictionary, Snappy), parquet-wasm (Rust, WebAssembly);
//  3. the whole conversion (ours) against DuckDB COPY threads=1.
// Each library's source is also searched for `new Function`, which workerd forbids.
// Candidates that are not dependencies of the repo are loaded from CANDIDATES (a directory
// with node_modules: `mkdir /tmp/c && cd /tmp/c && npm i papaparse udsv parquet-wasm apache-arrow`)
// and skipped when absent. Run:
//   npx esbuild bench/ingest-compare.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=/tmp/ingest-compare.mjs && CANDIDATES=/tmp/c node /tmp/ingest-compare.mjs [csv]

import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import { convertFile } from "../test/node/convert-node.ts";
import { ByteCsvTokenizer } from "../workers/ingest/src/csv-bytes.ts";
import {
  type ColumnData,
  K_INT,
  K_STRING,
  K_TS,
  TypedParquetWriter,
} from "../workers/ingest/src/parquet-encode.ts";
import { parquetSchema } from "../workers/ingest/src/parquet-out.ts";

const MB = 1024 * 1024;
const CANDIDATES = process.env.CANDIDATES;
const csvPath = process.argv[2] ?? "/tmp/flights1m.csv";
const results: {
  section: string;
  candidate: string;
  mb_s?: number;
  seconds: number;
  bytes?: number;
  workerd: string;
}[] = [];

async function time<T>(
  fn: () => T | Promise<T>,
  runs = 3,
): Promise<{ seconds: number; result: T }> {
  let best = Infinity;
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return { seconds: best, result };
}

function usesNewFunction(file: string): boolean {
  return /new Function\s*\(/.test(readFileSync(file, "utf8"));
}

async function candidate(name: string): Promise<{ mod: any; file: string } | undefined> {
  const bases = [process.cwd(), ...(CANDIDATES ? [CANDIDATES] : [])];
  for (const base of bases) {
    try {
      const req = createRequire(join(base, "package.json"));
      const file = req.resolve(name);
      return { mod: await import(pathToFileURL(file).href), file };
    } catch {
      // not here
    }
  }
  return undefined;
}

if (!existsSync(csvPath)) {
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  await con.run(
    `COPY (SELECT * FROM read_parquet('${resolve("node_modules/vega-datasets/data/flights-3m.parquet")}') LIMIT 1000000) TO '${csvPath}' (HEADER)`,
  );
  con.closeSync();
}
const bytes = readFileSync(csvPath);
const mb = statSync(csvPath).size / MB;
const CHUNK = 64 * 1024;

// ---- 1. parsers ----
{
  const r = await time(() => {
    const tok = new ByteCsvTokenizer({ maxColumns: 100 });
    let records = 0;
    for (let at = 0; at < bytes.length; at += CHUNK) {
      tok.push(bytes.subarray(at, at + CHUNK));
      while (tok.next(false)) records++;
    }
    while (tok.next(true)) records++;
    return records;
  });
  results.push({
    section: "parse",
    candidate: `ours: byte tokeniser (${r.result} records, fields as byte ranges)`,
    seconds: r.seconds,
    mb_s: mb / r.seconds,
    workerd: "yes (no code generation)",
  });
}
const d3 = await candidate("d3-dsv");
if (d3) {
  const r = await time(() => d3.mod.csvParseRows(new TextDecoder().decode(bytes)).length);
  results.push({
    section: "parse",
    candidate: "d3-dsv csvParseRows (whole text, string[][])",
    seconds: r.seconds,
    mb_s: mb / r.seconds,
    workerd: usesNewFunction(d3.file)
      ? "csvParseRows yes; csvParse (objects) uses new Function: no"
      : "yes",
  });
}
const papa = await candidate("papaparse");
if (papa) {
  const P = papa.mod.default ?? papa.mod;
  const r = await time(
    () => P.parse(new TextDecoder().decode(bytes), { fastMode: true }).data.length,
  );
  results.push({
    section: "parse",
    candidate: "papaparse fastMode (whole text, string[][])",
    seconds: r.seconds,
    mb_s: mb / r.seconds,
    workerd: usesNewFunction(papa.file) ? "no (new Function)" : "yes",
  });
}
const udsv = await candidate("udsv");
if (udsv) {
  const text = new TextDecoder().decode(bytes);
  const r = await time(() => {
    const schema = udsv.mod.inferSchema(text);
    const parser = udsv.mod.initParser(schema);
    return parser.stringArrs(text).length;
  });
  results.push({
    section: "parse",
    candidate: "udsv stringArrs (whole text)",
    seconds: r.seconds,
    mb_s: mb / r.seconds,
    workerd: usesNewFunction(udsv.file) ? "no: builds its row parser with new Function" : "yes",
  });
}

// ---- 2. writers, given the same typed columns ----
{
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  const reader = await con.runAndReadAll(
    `SELECT epoch_us(date)::DOUBLE, delay::DOUBLE, distance::DOUBLE, origin, destination FROM read_csv('${csvPath}')`,
  );
  const cols = reader.getColumns() as unknown[][];
  con.closeSync();
  const n = cols[0]!.length;
  const fields = [
    { name: "date", type: "timestamp" as const, nullable: true },
    { name: "delay", type: "int64" as const, nullable: true },
    { name: "distance", type: "int64" as const, nullable: true },
    { name: "origin", type: "string" as const, nullable: true },
    { name: "destination", type: "string" as const, nullable: true },
  ];
  const GROUP = 100_000;
  const enc = new TextEncoder();
  // typed column buffers per row group, as the parser fills them
  const groups: ColumnData[][] = [];
  for (let g = 0; g < n; g += GROUP) {
    const end = Math.min(n, g + GROUP);
    const rows = end - g;
    const valid = new Uint8Array(rows).fill(1);
    const num = (c: number, kind: number): ColumnData => ({
      kind,
      valid,
      nulls: 0,
      f64: Float64Array.from(cols[c]!.slice(g, end) as number[]),
    });
    const str = (c: number): ColumnData => {
      const map = new Map<string, number>();
      const codes = new Int32Array(rows);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < rows; i++) {
        const v = cols[c]![g + i] as string;
        let code = map.get(v);
        if (code === undefined) map.set(v, (code = map.size)), parts.push(enc.encode(v));
        codes[i] = code;
      }
      const offsets = new Int32Array(parts.length + 1);
      parts.forEach((p, i) => (offsets[i + 1] = offsets[i]! + p.length));
      const dictBytes = new Uint8Array(offsets[parts.length]!);
      parts.forEach((p, i) => dictBytes.set(p, offsets[i]!));
      return {
        kind: K_STRING,
        valid,
        nulls: 0,
        i32: codes,
        dict: { bytes: dictBytes, offsets, count: parts.length },
      };
    };
    groups.push([num(0, K_TS), num(1, K_INT), num(2, K_INT), str(3), str(4)]);
  }
  const ours = await time(async () => {
    let size = 0;
    const w = new TypedParquetWriter(fields, "SNAPPY", async (b) => void (size += b.length));
    for (const g of groups) await w.writeGroup(g, g[0]!.valid.length);
    await w.finish();
    return size;
  });
  results.push({
    section: "write",
    candidate: "ours: typed writer (parquet-encode.ts)",
    seconds: ours.seconds,
    bytes: ours.result,
    workerd: "yes",
  });

  // hyparquet-writer, tuned: BigInt64Array for INT64 columns, string arrays, dictionary + Snappy (its defaults).
  const big = (c: number) => BigInt64Array.from(cols[c]! as number[], (v) => BigInt(v));
  const hpData = [big(0), big(1), big(2), cols[3] as string[], cols[4] as string[]];
  const hp = await time(() => {
    const writer = new ByteWriter(1 << 20);
    const pq = new ParquetWriter({
      writer,
      schema: parquetSchema(fields),
      codec: "SNAPPY",
      statistics: true,
    });
    for (let g = 0; g < n; g += GROUP) {
      pq.write({
        columnData: fields.map((f, i) => ({
          name: f.name,
          data: hpData[i]!.slice(g, g + GROUP) as never,
        })),
        rowGroupSize: Math.min(GROUP, n - g),
      });
    }
    pq.finish();
    return writer.offset;
  }, 1);
  results.push({
    section: "write",
    candidate: "hyparquet-writer 0.17 (BigInt64Array, dictionary, Snappy)",
    seconds: hp.seconds,
    bytes: hp.result,
    workerd: "yes",
  });

  const pw = await candidate("parquet-wasm/node");
  const arrow = await candidate("apache-arrow");
  if (pw && arrow) {
    const A = arrow.mod;
    const table = A.tableFromArrays({
      date: BigInt64Array.from(cols[0]! as number[], (v) => BigInt(v)),
      delay: BigInt64Array.from(cols[1]! as number[], (v) => BigInt(v)),
      distance: BigInt64Array.from(cols[2]! as number[], (v) => BigInt(v)),
      origin: A.vectorFromArray(cols[3] as string[], new A.Utf8()),
      destination: A.vectorFromArray(cols[4] as string[], new A.Utf8()),
    });
    const ipc = A.tableToIPC(table, "stream");
    const W = pw.mod;
    const props = new W.WriterPropertiesBuilder()
      .setCompression(W.Compression.SNAPPY)
      .setDictionaryEnabled(true)
      .setMaxRowGroupSize(GROUP)
      .build();
    const r = await time(() => W.writeParquet(W.Table.fromIPCStream(ipc), props).length);
    const wasmFile = join(pw.file, "..", "parquet_wasm_bg.wasm");
    const wasmMb = statSync(wasmFile).size / MB;
    results.push({
      section: "write",
      candidate: `parquet-wasm (Rust arrow-rs in WebAssembly; input Arrow IPC; ${wasmMb.toFixed(1)} MiB of wasm)`,
      seconds: r.seconds,
      bytes: r.result,
      workerd: "not tried in workerd: needs the Arrow IPC input built by apache-arrow in JS",
    });
  }
}

// ---- 3. the whole conversion ----
{
  const ours = await time(async () => (await convertFile(csvPath)).parquet.length);
  results.push({
    section: "convert",
    candidate: "ours: convertCsv (tokenise → typed columns → typed writer)",
    seconds: ours.seconds,
    mb_s: mb / ours.seconds,
    bytes: ours.result,
    workerd: "yes",
  });
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  await con.run("SET threads = 1");
  const duck = await time(() =>
    con.run(
      `COPY (FROM read_csv('${csvPath}')) TO '/tmp/ingest-compare-duck.parquet' (FORMAT parquet)`,
    ),
  );
  results.push({
    section: "convert",
    candidate: "DuckDB COPY threads=1 (native)",
    seconds: duck.seconds,
    mb_s: mb / duck.seconds,
    bytes: statSync("/tmp/ingest-compare-duck.parquet").size,
    workerd: "no (native)",
  });
  con.closeSync();
}

console.log(`CSV: ${csvPath}, ${mb.toFixed(1)} MiB; best of 3 unless noted\n`);
console.log(
  "| step | candidate | s | MB/s | output bytes | runs in workerd |\n|---|---|---|---|---|---|",
);
for (const r of results) {
  console.log(
    `| ${r.section} | ${r.candidate} | ${r.seconds.toFixed(3)} | ${r.mb_s ? r.mb_s.toFixed(1) : ""} | ${r.bytes ?? ""} | ${r.workerd} |`,
  );
}

// Issue #13 part 4, an engine that costs what changed: an append loads only its new objects
// (the catalog's delta), merged in only when no running query reads the table; the datasets a
// replica holds stay within [queryd].local_cache_mb (least recently used evicted, reloaded on
// demand); and no query waits on another dataset's load or warm-up.
//
// Tests marked [delta route] need the catalog's GET /catalog/delta/{name}?from=U&to=V; with a
// catalog without it (404) the engine reloads in full, which the other tests check is correct.

import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { schemaFingerprint } from "../../../shared/dataset";
import type { Manifest, SchemaField } from "../../../shared/types";
import type { CachedTable, EngineAnswer, EngineStats } from "../src/engine-types";
import { checkReadOnly } from "../src/guard";
import type { QueryEngine } from "../src/query-engine";

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "label", type: "string", nullable: true },
];

type Obj = { key: string; size: number; row_count: number };

async function putRows(
  key: string,
  ids: number[],
  label: (i: number) => string = (i) => `row-${i}`,
  rowGroupSize = 1000,
): Promise<Obj> {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: ids.map((i) => BigInt(i)), type: "INT64", nullable: false },
      { name: "label", data: ids.map(label), type: "STRING" },
    ],
    rowGroupSize,
  });
  await env.LAKE.put(key, buf);
  return { key, size: buf.byteLength, row_count: ids.length };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sumOf = (ids: number[]) => ids.reduce((n, i) => n + i, 0);

async function register(
  name: string,
  objects: Obj[],
  mode: "replace" | "append" = "replace",
): Promise<number> {
  const res = await env.CATALOG.fetch("http://catalog/catalog/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name,
      schema: SCHEMA,
      schema_fingerprint: await schemaFingerprint(SCHEMA),
      objects,
      mode,
    }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return (JSON.parse(text) as { version: number }).version;
}

async function catalogList(): Promise<{ name: string; version: number }[]> {
  const res = await env.CATALOG.fetch("http://catalog/catalog/list");
  const body = (await res.json()) as { datasets: { name: string; version: number }[] };
  return body.datasets.map((d) => ({ name: d.name, version: d.version }));
}

async function sql(body: unknown) {
  const res = await exports.default.fetch("http://query/sql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** The Worker's replica (the one the catalog notifies). */
async function replicaTables(): Promise<CachedTable[]> {
  const res = await exports.default.fetch("http://query/sql/datasets");
  const body = (await res.json()) as { replicas: { tables: CachedTable[] }[] };
  return body.replicas[0]!.tables;
}

/** An engine of its own (no catalog notification reaches it): only these tests load into it. */
function engine(name: string): DurableObjectStub<QueryEngine> {
  return env.QUERY_ENGINE.get(env.QUERY_ENGINE.idFromName(name)) as DurableObjectStub<QueryEngine>;
}

async function direct(
  stub: DurableObjectStub<QueryEngine>,
  text: string,
  opts: { cacheBytes?: number; timeoutMs?: number; columnar?: boolean } = {},
): Promise<EngineAnswer> {
  const checked = checkReadOnly(text);
  return (await stub.query({
    sql: checked.sql,
    params: [],
    max_rows: 100_000,
    timeout_ms: opts.timeoutMs ?? 30_000,
    columnar: opts.columnar ?? false,
    columnar_cache_bytes: 64 * 1024 * 1024,
    tables: checked.tables,
    max_join_rows: 1e12,
    kind: checked.kind,
    datasets: await catalogList(),
    local_cache_bytes: opts.cacheBytes,
  })) as EngineAnswer;
}

function rowsOf(answer: EngineAnswer): unknown[][] {
  if (!answer.ok) throw new Error(`${answer.error.code}: ${answer.error.message}`);
  return answer.result.rows;
}

async function stats(
  stub: DurableObjectStub<QueryEngine>,
  cacheBytes?: number,
): Promise<EngineStats> {
  return (await stub.stats(cacheBytes)) as EngineStats;
}

/** The physical table a dataset lives in, and the rows in it (white box). */
async function physicalOf(
  stub: DurableObjectStub<QueryEngine>,
  name: string,
): Promise<{ physical: string; version: number; rows: number } | null> {
  return runInDurableObject(stub, (_instance: QueryEngine, state) => {
    const row = state.storage.sql
      .exec<{ physical: string; version: number }>(
        "SELECT physical, version FROM _lh_tables WHERE name = ?",
        name,
      )
      .toArray()[0];
    if (!row) return null;
    const rows = state.storage.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM "${row.physical}"`)
      .one().n;
    return { physical: row.physical, version: row.version, rows };
  });
}

async function tableExists(
  stub: DurableObjectStub<QueryEngine>,
  physical: string,
): Promise<boolean> {
  return runInDurableObject(
    stub,
    (_i: QueryEngine, state) =>
      state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = ?", physical).toArray()
        .length > 0,
  );
}

/** Stands for a query mid-iteration over a physical table (white box: the engine's reader count). */
async function holdReader(
  stub: DurableObjectStub<QueryEngine>,
  physical: string,
  hold: boolean,
): Promise<void> {
  await runInDurableObject(stub, (instance: QueryEngine) => {
    const engineInternals = (
      instance as unknown as {
        held: { acquire(p: string[]): string[]; release(p: string[]): void };
      }
    ).held;
    if (hold) engineInternals.acquire([physical]);
    else engineInternals.release([physical]);
  });
}

describe("a new version loads only what changed", () => {
  it("[delta route] an append loads only its new objects; counts, contents and the columnar cache stay right", async () => {
    const v1 = await register("events", [
      await putRows("datasets/events/v1/part-0.parquet", range(1, 3)),
    ]);
    const check = async (ids: number[]) => {
      const all = await sql({ sql: "SELECT id, label FROM events ORDER BY id", engine: "sqlite" });
      expect(all.status, JSON.stringify(all.body)).toBe(200);
      expect(all.body.rows).toEqual(ids.map((i) => [i, `row-${i}`]));
      // the columnar path caches typed columns per table and version: it must see the append too
      const fast = await sql({ sql: "SELECT count(*), sum(id), max(id) FROM events" });
      expect(fast.body.engine).toBe("columnar");
      expect(fast.body.rows).toEqual([[ids.length, sumOf(ids), Math.max(...ids)]]);
    };
    await check(range(1, 3));
    const first = (await replicaTables()).find((t) => t.name === "events")!;
    expect(first).toMatchObject({
      version: v1,
      row_count: 3,
      last_load: "full",
      loads: { full: 1, incremental: 0 },
    });
    expect(first.bytes).toBeGreaterThan(0);

    const v2 = await register(
      "events",
      [await putRows("datasets/events/v2/part-0.parquet", range(4, 5))],
      "append",
    );
    await check(range(1, 5));
    const second = (await replicaTables()).find((t) => t.name === "events")!;
    expect(second).toMatchObject({
      version: v2,
      row_count: 5,
      last_load: "incremental",
      last_load_rows: 2,
      loads: { full: 1, incremental: 1 },
    });
    expect(second.bytes).toBeGreaterThan(first.bytes);

    const v3 = await register(
      "events",
      [
        await putRows("datasets/events/v3/part-0.parquet", range(6, 9)),
        await putRows("datasets/events/v3/part-1.parquet", range(10, 10)),
      ],
      "append",
    );
    await check(range(1, 10));
    const third = (await replicaTables()).find((t) => t.name === "events")!;
    expect(third).toMatchObject({
      version: v3,
      row_count: 10,
      last_load: "incremental",
      last_load_rows: 5,
      loads: { full: 1, incremental: 2 },
    });
    expect(third.bytes).toBeGreaterThan(second.bytes);

    // a replace is not an append: loaded in full, the old rows gone
    const v4 = await register("events", [
      await putRows("datasets/events/v4/part-0.parquet", range(100, 101)),
    ]);
    await check([100, 101]);
    expect((await replicaTables()).find((t) => t.name === "events")).toMatchObject({
      version: v4,
      row_count: 2,
      last_load: "full",
      loads: { full: 2, incremental: 2 },
    });
  });

  it("reloads in full, correctly, when the catalog has no usable delta (an unknown held version: 404) or the version replaces the data", async () => {
    const stub = engine("fallback");
    const objs = [await putRows("datasets/logs/v1/part-0.parquet", range(1, 3))];
    const v1 = await register("logs", objs);
    // the engine holds a version the catalog never had (0): the delta answers 404, the engine loads v1 in full
    const old: Manifest = {
      dataset_id: "logs",
      name: "logs",
      schema: SCHEMA,
      schema_fingerprint: "x",
      objects: [await putRows("datasets/logs/v0/part-0.parquet", range(1, 2))],
      row_count: 2,
      version: 0,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    };
    expect(await stub.changed("logs", 0, old, true)).toMatchObject({ loaded: true, load: "full" });
    expect(rowsOf(await direct(stub, "SELECT count(*), sum(id) FROM logs"))).toEqual([[3, 6]]);
    let s = await stats(stub);
    expect(s.tables.find((t) => t.name === "logs")).toMatchObject({
      version: v1,
      row_count: 3,
      last_load: "full",
      loads: { full: 2, incremental: 0 },
    });
    expect(s.loads).toMatchObject({ full: 2, incremental: 0, full_after_delta: 1 });
    // a replace: never merged into the old rows
    const v2 = await register("logs", [
      await putRows("datasets/logs/v2/part-0.parquet", range(50, 52)),
    ]);
    expect(rowsOf(await direct(stub, "SELECT min(id), max(id), count(*) FROM logs"))).toEqual([
      [50, 52, 3],
    ]);
    s = await stats(stub);
    expect(s.tables.find((t) => t.name === "logs")).toMatchObject({
      version: v2,
      row_count: 3,
      last_load: "full",
    });
    expect(s.loads.incremental).toBe(0);
    // an append is right whichever way it loads (incremental with the delta route, in full without)
    const v3 = await register(
      "logs",
      [await putRows("datasets/logs/v3/part-0.parquet", range(53, 54))],
      "append",
    );
    expect(rowsOf(await direct(stub, "SELECT id FROM logs ORDER BY id"))).toEqual(
      range(50, 54).map((i) => [i]),
    );
    expect((await stats(stub)).tables.find((t) => t.name === "logs")).toMatchObject({
      version: v3,
      row_count: 5,
    });
  });

  it("[delta route] an append's merge waits for a query reading the table; past the wait it copies the table instead", async () => {
    const stub = engine("merge");
    await register("ticks", [await putRows("datasets/ticks/v1/part-0.parquet", range(1, 1000))]);
    expect(rowsOf(await direct(stub, "SELECT count(*) FROM ticks"))).toEqual([[1000]]);
    const before = (await physicalOf(stub, "ticks"))!;

    // a query is iterating over the table: the append is loaded aside, the merge waits for it
    await holdReader(stub, before.physical, true);
    const v2 = await register(
      "ticks",
      [await putRows("datasets/ticks/v2/part-0.parquet", range(1001, 1500))],
      "append",
    );
    let done = false;
    const after = direct(stub, "SELECT count(*), max(id) FROM ticks", { timeoutMs: 20_000 }).then(
      (a) => {
        done = true;
        return a;
      },
    );
    await new Promise((r) => setTimeout(r, 400));
    expect(done).toBe(false);
    expect(await physicalOf(stub, "ticks")).toEqual(before); // the reader still sees exactly the old rows
    await holdReader(stub, before.physical, false);
    expect(rowsOf(await after)).toEqual([[1500, 1500]]);
    const merged = (await physicalOf(stub, "ticks"))!;
    expect(merged).toEqual({ physical: before.physical, version: v2, rows: 1500 }); // merged in place
    let s = await stats(stub);
    expect(s.loads).toMatchObject({ full: 1, incremental: 1, copied: 0 });

    // a reader that outlasts the wait (half the triggering query's timeout): the table is copied with
    // the new rows into a fresh one; the reader keeps the old one until it ends, then it is dropped
    await holdReader(stub, merged.physical, true);
    const v3 = await register(
      "ticks",
      [await putRows("datasets/ticks/v3/part-0.parquet", range(1501, 1600))],
      "append",
    );
    expect(
      rowsOf(await direct(stub, "SELECT count(*), max(id) FROM ticks", { timeoutMs: 3000 })),
    ).toEqual([[1600, 1600]]);
    const copied = (await physicalOf(stub, "ticks"))!;
    expect(copied.physical).not.toBe(merged.physical);
    expect(copied).toMatchObject({ version: v3, rows: 1600 });
    s = await stats(stub);
    expect(s.loads).toMatchObject({ full: 1, incremental: 2, copied: 1 });
    expect(s.tables.find((t) => t.name === "ticks")).toMatchObject({
      last_load: "incremental",
      last_load_rows: 100,
      loads: { full: 1, incremental: 2 },
    });
    const oldRows = await runInDurableObject(
      stub,
      (_i: QueryEngine, state) =>
        state.storage.sql
          .exec<{ n: number }>(`SELECT count(*) AS n FROM "${merged.physical}"`)
          .one().n,
    );
    expect(oldRows).toBe(1500);
    await holdReader(stub, merged.physical, false);
    expect(await tableExists(stub, merged.physical)).toBe(false);
    expect(
      rowsOf(await direct(stub, "SELECT id FROM ticks WHERE id > 1495 ORDER BY id LIMIT 8")),
    ).toEqual(range(1496, 1503).map((i) => [i]));
  });
});

describe("appends after results left unfinished", () => {
  it("[delta route] an append after a truncated or timed-out result (its cursor may stay open on the table) is still right", async () => {
    const stub = engine("truncated");
    await register("trunc", [
      await putRows("datasets/trunc/v1/part-0.parquet", range(1, 5000), (i) => `t${i}`, 500),
    ]);
    const capped = (await stub.query({
      ...checkReadOnly("SELECT id FROM trunc"),
      params: [],
      max_rows: 10,
      timeout_ms: 30_000,
      columnar: false,
      columnar_cache_bytes: 0,
      max_join_rows: 1e12,
      datasets: await catalogList(),
    } as never)) as EngineAnswer;
    expect(capped).toMatchObject({ ok: true, result: { row_count: 10, truncated: true } });
    await register(
      "trunc",
      [await putRows("datasets/trunc/v2/part-0.parquet", range(5001, 5100), (i) => `t${i}`)],
      "append",
    );
    expect(rowsOf(await direct(stub, "SELECT count(*), sum(id), max(label) FROM trunc"))).toEqual([
      [5100, sumOf(range(1, 5100)), "t999"],
    ]);
    await register(
      "trunc",
      [await putRows("datasets/trunc/v3/part-0.parquet", range(5101, 5102), (i) => `t${i}`)],
      "append",
    );
    expect(rowsOf(await direct(stub, "SELECT id FROM trunc WHERE id > 5095 ORDER BY id"))).toEqual(
      range(5096, 5102).map((i) => [i]),
    );
    const s = await stats(stub);
    expect(s.loads).toMatchObject({ full: 1, incremental: 2 });
    expect(s.tables.find((t) => t.name === "trunc")).toMatchObject({
      row_count: 5102,
      last_load: "incremental",
    });
  });
});

describe("the datasets a replica holds stay within [queryd].local_cache_mb", () => {
  it("evicts the least recently used dataset, never one the query reads, and reloads an evicted one on demand", async () => {
    const stub = engine("evict");
    const ids = range(1, 2000);
    for (const name of ["ev_a", "ev_b", "ev_c"])
      await register(name, [
        await putRows(`datasets/${name}/v1/part-0.parquet`, ids, (i) => `${name}-label-${i}`),
      ]);
    const expectAnswer = async (name: string, budget: number) => {
      expect(
        rowsOf(
          await direct(stub, `SELECT count(*), sum(id), min(label) FROM ${name}`, {
            cacheBytes: budget,
          }),
        ),
      ).toEqual([[2000, sumOf(ids), `${name}-label-1`]]);
      const s = await stats(stub, budget);
      expect(s.tables.map((t) => t.name)).toContain(name);
      return s;
    };
    // sizes first (no pressure)
    const sized = await expectAnswer("ev_a", 1e9);
    const one = sized.tables.find((t) => t.name === "ev_a")!.bytes;
    expect(one).toBeGreaterThan(2000 * 10);

    // room for two: the third evicts the least recently used
    const two = Math.floor(one * 2.5);
    await expectAnswer("ev_b", two);
    let s = await expectAnswer("ev_c", two);
    expect(s.tables.map((t) => t.name).sort()).toEqual(["ev_b", "ev_c"]);
    expect(s.bytes).toBeLessThanOrEqual(two);
    await expectAnswer("ev_b", two); // b is now more recent than c
    s = await expectAnswer("ev_a", two); // evicted, reloaded on demand; c is the least recently used
    expect(s.tables.map((t) => t.name).sort()).toEqual(["ev_a", "ev_b"]);
    expect(s.evictions).toBe(2);

    // room for one and a half: alternating queries stay right and the cache never holds more than fits
    const budget = Math.floor(one * 1.5);
    for (const name of ["ev_c", "ev_a", "ev_b", "ev_c", "ev_c", "ev_b", "ev_a"]) {
      s = await expectAnswer(name, budget);
      expect(s.bytes, name).toBeLessThanOrEqual(budget);
      expect(s.tables.map((t) => t.name)).toEqual([name]);
      expect(s.budget_bytes).toBe(budget);
    }

    // a query reading two datasets keeps both, even over the budget; the next query brings it back within
    expect(
      rowsOf(
        await direct(stub, "SELECT count(*) FROM ev_a JOIN ev_b ON ev_a.id = ev_b.id", {
          cacheBytes: budget,
        }),
      ),
    ).toEqual([[2000]]);
    expect((await stats(stub)).tables.map((t) => t.name).sort()).toEqual(["ev_a", "ev_b"]);
    await expectAnswer("ev_c", budget);
    expect((await stats(stub, budget)).tables.map((t) => t.name)).toEqual(["ev_c"]);

    // a dataset bigger than the whole budget is still loaded, alone
    s = await expectAnswer("ev_a", Math.floor(one / 2));
    expect(s.tables.map((t) => t.name)).toEqual(["ev_a"]);
    expect(s.loads.full).toBeGreaterThanOrEqual(8);
  });
});

describe("no query waits on another dataset's load", () => {
  it("a query on A answers while B loads for another query, and while a warm-up nobody awaits loads C", async () => {
    const stub = engine("busy");
    await register("small_a", [await putRows("datasets/small_a/v1/part-0.parquet", range(1, 4))]);
    expect(rowsOf(await direct(stub, "SELECT count(*) FROM small_a"))).toEqual([[4]]);
    const manyB = await putRows(
      "datasets/many_b/v1/part-0.parquet",
      range(1, 100_000),
      (i) => `b ${i % 977}`,
      10_000,
    );
    const manyC = await putRows(
      "datasets/many_c/v1/part-0.parquet",
      range(1, 100_000),
      (i) => `c ${i % 977}`,
      10_000,
    );
    await register("many_b", [manyB]);
    const vC = await register("many_c", [manyC]);

    // B: loaded by a query on this engine
    let bDone = false;
    const b = direct(stub, "SELECT count(*) FROM many_b").then((a) => {
      bDone = true;
      return a;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(rowsOf(await direct(stub, "SELECT count(*), max(id) FROM small_a"))).toEqual([[4, 4]]);
    expect(bDone).toBe(false);
    expect(rowsOf(await b)).toEqual([[100_000]]);

    // C: warmed by a catalog notification that nobody awaits
    let cDone = false;
    const warm = stub.changed("many_c", vC, null, true).then((r) => {
      cDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(rowsOf(await direct(stub, "SELECT sum(id) FROM small_a"))).toEqual([[10]]);
    expect(cDone).toBe(false);
    // a query on C meanwhile waits for that same load (one load, not two)
    expect(rowsOf(await direct(stub, "SELECT count(*) FROM many_c"))).toEqual([[100_000]]);
    expect(await warm).toMatchObject({ loaded: true });
    const s = await stats(stub);
    expect(s.tables.find((t) => t.name === "many_c")).toMatchObject({
      loads: { full: 1, incremental: 0 },
    });
    expect(s.loads.full).toBe(3);
  });
});

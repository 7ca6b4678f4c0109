// Issue #21, "the lake stays clean", inside workerd with the real storage, ingest and query
// Workers beside the catalog:
// - a snapshot keeps its parent-snapshot-id for life: after its parent expires
//   ([catalogd].retain_versions), the REST catalog's metadata and every kept metadata JSON file
//   still name it (Iceberg snapshots are immutable; a dangling parent is legal);
// - the cron's orphan sweep deletes objects under [ingestd].prefix that no catalog row lists,
//   once older than [catalogd].orphan_grace_s (by upload time, against the cron's scheduled
//   time: the test's clock), never a file or Iceberg metadata a kept version lists, and at
//   most [catalogd].orphan_sweep_deletes per run, resuming where it stopped;
// - a compaction killed half-way (its output written by the ingest Worker, its commit never
//   made) leaves output the sweep removes after the grace, while every listed file stays and
//   SQL still answers.

import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";
import type { Catalog } from "../src/catalog";
import worker from "../src/index";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "name", type: "string", nullable: true },
];
const BUCKET = "lakehouse-lake";

async function call(
  path: string,
  init?: RequestInit & { json?: unknown },
): Promise<{ status: number; body: Json }> {
  const { json, ...rest } = init ?? {};
  const res = await exports.default.fetch(`http://x${path}`, {
    ...rest,
    ...(json !== undefined
      ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } }
      : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A real Parquet object of `rows` rows of SCHEMA, ids from `first`. */
async function putObject(
  key: string,
  rows: number,
  first = 0,
): Promise<{ key: string; size: number; row_count: number }> {
  const bytes = parquetWriteBuffer({
    columnData: [
      {
        name: "id",
        data: Array.from({ length: rows }, (_, i) => BigInt(first + i)),
        type: "INT64",
      },
      {
        name: "name",
        data: Array.from({ length: rows }, (_, i) => `n${first + i}`),
        type: "STRING",
      },
    ],
  });
  await env.LAKE.put(key, bytes);
  return { key, size: bytes.byteLength, row_count: rows };
}

async function register(
  name: string,
  objects: { key: string; size: number; row_count: number }[],
  mode: "replace" | "append" = "replace",
): Promise<Json> {
  const res = await call("/catalog/register", {
    method: "POST",
    json: {
      name,
      schema: SCHEMA,
      schema_fingerprint: await schemaFingerprint(SCHEMA),
      objects,
      mode,
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

function stub(): DurableObjectStub<Catalog> {
  return env.CATALOG.get(env.CATALOG.idFromName("catalog")) as DurableObjectStub<Catalog>;
}

/** Sets LH_* vars on the Catalog object's env (its retention), until `restore` is called. */
async function catalogVars(vars: Record<string, string>): Promise<() => Promise<void>> {
  const saved = await runInDurableObject(stub(), (cat: Catalog) => {
    const own = cat as unknown as { env: Env };
    const before = own.env;
    Object.defineProperty(own, "env", {
      value: { ...before, ...vars },
      configurable: true,
      writable: true,
    });
    return Object.keys(vars);
  });
  return async () => {
    await runInDurableObject(stub(), (cat: Catalog) => {
      const own = cat as unknown as { env: Record<string, unknown> };
      const next = { ...own.env };
      for (const k of saved) delete next[k];
      Object.defineProperty(own, "env", { value: next, configurable: true, writable: true });
    });
  };
}

async function tableMetadata(name: string): Promise<{ location: string; metadata: Json }> {
  const res = await call(`/iceberg/v1/namespaces/default/tables/${name}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { location: res.body["metadata-location"], metadata: res.body.metadata };
}

function keyOf(location: string): string {
  return location.replace(`s3://${BUCKET}/`, "");
}

/** The metadata map of an Avro object container file's header (keys → UTF-8 values). */
function avroHeader(bytes: Uint8Array): Record<string, string> {
  expect([...bytes.subarray(0, 4)]).toEqual([0x4f, 0x62, 0x6a, 0x01]);
  let pos = 4;
  const long = (): number => {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[pos++]!;
      n |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) break;
    }
    return Number((n >> 1n) ^ -(n & 1n));
  };
  const text = (): string => {
    const len = long();
    const out = new TextDecoder().decode(bytes.subarray(pos, pos + len));
    pos += len;
    return out;
  };
  const meta: Record<string, string> = {};
  for (let count = long(); count !== 0; count = long()) {
    if (count < 0) {
      count = -count;
      long(); // block size in bytes
    }
    for (let i = 0; i < count; i++) meta[text()] = text();
  }
  return meta;
}

/** The `parent-snapshot-id` in the header of each snapshot's manifest list. */
async function manifestListParents(metadata: Json): Promise<Record<number, string>> {
  const out: Record<number, string> = {};
  for (const snap of metadata.snapshots) {
    const obj = await env.LAKE.get(keyOf(snap["manifest-list"]));
    expect(obj, snap["manifest-list"]).not.toBeNull();
    out[snap["snapshot-id"]] = avroHeader(new Uint8Array(await obj!.arrayBuffer()))[
      "parent-snapshot-id"
    ]!;
  }
  return out;
}

/** snapshot id → parent id (null when the snapshot names none) */
function parents(metadata: Json): Record<number, number | null> {
  return Object.fromEntries(
    metadata.snapshots.map((s: Json) => [s["snapshot-id"], s["parent-snapshot-id"] ?? null]),
  );
}

describe("a snapshot keeps its parent-snapshot-id after the parent expires (#21)", () => {
  it("retain_versions = 2: the REST metadata and every kept metadata file name each snapshot's parent, expired or not", async () => {
    const restore = await catalogVars({
      LH_CATALOGD_RETAIN_VERSIONS: "2",
      LH_CATALOGD_RETAIN_DAYS: "0",
    });
    try {
      const versions: number[] = [];
      for (let i = 0; i < 5; i++) {
        const o = await putObject(`datasets/par/p${i}.parquet`, 3, i * 3);
        versions.push((await register("par", [o], "append")).version);
      }
      expect(versions).toEqual([1, 2, 3, 4, 5]);
      const { location, metadata } = await tableMetadata("par");
      // versions 4 and 5 are kept; 3 (4's parent) expired, yet 4 still names it
      expect(metadata.snapshots.map((s: Json) => s["snapshot-id"])).toEqual([4, 5]);
      expect(parents(metadata)).toEqual({ 4: 3, 5: 4 });
      expect(await manifestListParents(metadata)).toEqual({ 4: "3", 5: "4" });
      // readers follow snapshot-log and current-snapshot-id: the kept ancestry
      expect(metadata["snapshot-log"].map((e: Json) => e["snapshot-id"])).toEqual([4, 5]);
      expect(metadata["current-snapshot-id"]).toBe(5);
      // every metadata file a reader can reach (the current one and its log) says the same of the snapshots it holds
      const files = [
        keyOf(location),
        ...metadata["metadata-log"].map((e: Json) => keyOf(e["metadata-file"])),
      ];
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const key of files) {
        const obj = await env.LAKE.get(key);
        expect(obj, key).not.toBeNull();
        const m = (await obj!.json()) as Json;
        for (const s of m.snapshots)
          expect(s["parent-snapshot-id"], `${key}: snapshot ${s["snapshot-id"]}`).toBe(
            s["snapshot-id"] - 1,
          );
      }

      // retain_versions = 1: a new snapshot whose parent expires in the same commit still names it
      const restore1 = await catalogVars({ LH_CATALOGD_RETAIN_VERSIONS: "1" });
      const o = await putObject("datasets/par/p5.parquet", 3, 15);
      expect((await register("par", [o], "append")).version).toBe(6);
      await restore1();
      expect(parents((await tableMetadata("par")).metadata)).toEqual({ 6: 5 });
      expect(await manifestListParents((await tableMetadata("par")).metadata)).toEqual({ 6: "5" });

      // the cron's retention rewrites the table metadata: the parent stays
      const maintained = await call("/catalog/maintain", { method: "POST" });
      expect(maintained.status).toBe(200);
      expect(parents((await tableMetadata("par")).metadata)).toEqual({ 6: 5 });
    } finally {
      await restore();
    }
  });

  it("a table's first snapshot has no parent, also after the dataset is deleted and made again", async () => {
    const a = await putObject("datasets/fresh/a.parquet", 2);
    await register("fresh", [a]);
    expect(parents((await tableMetadata("fresh")).metadata)).toEqual({ 1: null });
    expect(await manifestListParents((await tableMetadata("fresh")).metadata)).toEqual({
      1: "null",
    });
    expect((await call("/catalog/manifest/fresh", { method: "DELETE" })).status).toBe(204);
    const b = await putObject("datasets/fresh/b.parquet", 2);
    expect((await register("fresh", [b])).version).toBe(2);
    expect(parents((await tableMetadata("fresh")).metadata)).toEqual({ 2: null });
  });
});

const GRACE_S = 3600;
const CRON = "*/10 * * * *";

/** Runs the catalog's cron as if at `scheduledTime`, with [catalogd].orphan_grace_s = GRACE_S. */
async function cron(scheduledTime: number): Promise<void> {
  await worker.scheduled!(
    createScheduledController({ cron: CRON, scheduledTime }),
    { ...env, LH_CATALOGD_ORPHAN_GRACE_S: String(GRACE_S) } as Env,
    createExecutionContext(),
  );
}

async function lakeKeys(prefix = "datasets/"): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.LAKE.list({ prefix, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** Every key a catalog row lists: data files (kept versions too), manifests, manifest lists, metadata JSON. */
async function catalogKeys(): Promise<string[]> {
  return runInDurableObject(stub(), (_c: Catalog, state: DurableObjectState) =>
    state.storage.sql
      .exec<{ k: string }>(
        `SELECT key AS k FROM files UNION SELECT path FROM iceberg_manifests
         UNION SELECT manifest_list FROM versions WHERE manifest_list IS NOT NULL
         UNION SELECT metadata_key FROM versions WHERE metadata_key IS NOT NULL
         UNION SELECT metadata_key FROM datasets WHERE metadata_key IS NOT NULL`,
      )
      .toArray()
      .map((r) => r.k),
  );
}

async function exists(key: string): Promise<boolean> {
  return (await env.LAKE.head(key)) !== null;
}

async function sql(text: string): Promise<unknown[][]> {
  const res = await env.QUERY.fetch("http://query/sql/", {
    method: "POST",
    body: JSON.stringify({ sql: text }),
    headers: { "content-type": "application/json" },
  });
  const body = (await res.json()) as Json;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.rows;
}

describe("the cron sweeps objects under the dataset prefix that no catalog row lists (#21)", () => {
  it("keeps them inside [catalogd].orphan_grace_s, deletes them after it; never a listed file or Iceberg file", async () => {
    const a = await putObject("datasets/swept/a.parquet", 4);
    const b = await putObject("datasets/swept/b.parquet", 2, 10);
    await register("swept", [a]);
    await register("swept", [b]); // replace: version 1 (kept) still lists a
    // what a killed ingest, a failed commit and a deleted dataset's failed cleanup leave behind
    const orphans = [
      (await putObject("datasets/swept/killed-ingest.parquet", 3)).key,
      (await putObject("datasets/swept/metadata/00009-stray.metadata.json", 1)).key,
      (await putObject("datasets/swept/metadata/snap-9-stray.avro", 1)).key,
      (await putObject("datasets/never_registered/x.parquet", 1)).key,
    ];
    const listed = await catalogKeys();
    for (const k of orphans) expect(listed).not.toContain(k);
    const before = await lakeKeys();

    // inside the grace: an in-flight writer's files look exactly like these; nothing goes
    await cron(Date.now());
    expect(await lakeKeys()).toEqual(before);

    // past the grace (the cron's clock an hour and a minute on): the orphans go, nothing else
    await cron(Date.now() + (GRACE_S + 60) * 1000);
    for (const k of orphans) expect(await exists(k), k).toBe(false);
    const after = await lakeKeys();
    expect(after.sort()).toEqual(before.filter((k) => !orphans.includes(k)).sort());
    for (const k of await catalogKeys()) expect(await exists(k), `listed ${k}`).toBe(true);
    expect(
      (await call("/catalog/manifest/swept?version=1")).body.objects.map((o: Json) => o.key),
    ).toEqual([a.key]);
    expect(await sql("SELECT count(*), sum(id) FROM swept")).toEqual([[2, 21]]);
    // the REST catalog's table still loads, and its metadata file is there
    expect(await exists(keyOf((await tableMetadata("swept")).location))).toBe(true);
  });

  it("bounded per run: at most maxDeletes deletes and maxPages listing pages, resuming where it stopped", async () => {
    const keys = [];
    for (let i = 0; i < 5; i++)
      keys.push((await putObject(`datasets/bounded/o${i}.parquet`, 1)).key);
    const runs: { listed: number; deleted: string[]; wrapped: boolean }[] = [];
    const future = Date.now() + (GRACE_S + 60) * 1000;
    for (let i = 0; i < 40 && keys.some((k) => !runs.some((r) => r.deleted.includes(k))); i++) {
      runs.push(
        await stub().sweepOrphans({
          prefix: "datasets/bounded/",
          graceMs: GRACE_S * 1000,
          nowMs: future,
          pageSize: 2,
          maxPages: 2,
          maxDeletes: 1,
          topLevelOnly: false,
        }),
      );
    }
    for (const r of runs) {
      expect(r.deleted.length).toBeLessThanOrEqual(1);
      expect(r.listed).toBeLessThanOrEqual(4);
    }
    expect(runs.flatMap((r) => r.deleted).sort()).toEqual(keys);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    for (const k of keys) expect(await exists(k)).toBe(false);
  });

  it("with R2 Data Catalog mirroring, files below a table's metadata/ and data/ (where it writes its own) are left alone", async () => {
    const theirs = (await putObject("datasets/mirrored/metadata/00003-r2dc.metadata.json", 1)).key;
    const ours = (await putObject("datasets/mirrored/killed.parquet", 1)).key;
    const theirData = (await putObject("datasets/mirrored/data/00000-0-r2dc.parquet", 1)).key;
    const r = await stub().sweepOrphans({
      prefix: "datasets/",
      graceMs: 0,
      nowMs: Date.now() + 60_000,
      pageSize: 1000,
      maxPages: 1,
      maxDeletes: 1000,
      topLevelOnly: true,
    });
    expect(r.deleted).toEqual([ours]);
    expect(await exists(theirData)).toBe(true);
    expect(await exists(theirs)).toBe(true);
  });
});

describe("a compaction killed half-way (#21)", () => {
  it("its output, written and never committed, goes after the grace; every listed file stays and SQL answers", async () => {
    const small = [];
    for (let i = 0; i < 4; i++) small.push(await putObject(`datasets/cmp/s${i}.parquet`, 5, i * 5));
    await register("cmp", small.slice(0, 1));
    for (const o of small.slice(1)) await register("cmp", [o], "append");
    const manifest = (await call("/catalog/manifest/cmp")).body;
    expect(manifest.objects.length).toBe(4);

    // The compaction's write step, exactly as compactDataset drives it: the ingest Worker writes the
    // merged Parquet. Then the process dies: the catalog's commit (register, mode rewrite) never runs.
    const res = await env.INGEST.fetch("http://ingest/ingest/compact", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "cmp",
        schema: manifest.schema,
        objects: manifest.objects.map(({ key, size, row_count }: Json) => ({
          key,
          size,
          row_count,
        })),
      }),
    });
    const written = (await res.json()) as Json;
    expect(res.status, JSON.stringify(written)).toBe(200);
    const outputs: string[] = written.objects.map((o: Json) => o.key);
    expect(outputs.length).toBeGreaterThan(0);
    for (const k of outputs) {
      expect(k.startsWith("datasets/cmp/")).toBe(true);
      expect(await exists(k)).toBe(true);
    }
    expect(await catalogKeys()).not.toEqual(expect.arrayContaining(outputs.slice(0, 1)));

    // A cron inside the grace keeps it (a live compaction's output looks the same).
    await cron(Date.now());
    for (const k of outputs) expect(await exists(k)).toBe(true);

    // Past the grace it goes; the dataset is untouched.
    await cron(Date.now() + (GRACE_S + 60) * 1000);
    for (const k of outputs) expect(await exists(k), k).toBe(false);
    const now = (await call("/catalog/manifest/cmp")).body;
    expect(now.version).toBe(manifest.version);
    expect(now.objects.map((o: Json) => o.key)).toEqual(small.map((o) => o.key));
    for (const k of await catalogKeys()) expect(await exists(k), `listed ${k}`).toBe(true);
    expect(await sql("SELECT count(*), sum(id) FROM cmp")).toEqual([[20, 190]]);

    // and a real compaction afterwards still works on the same files
    const compacted = await call("/catalog/compact/cmp", { method: "POST" });
    expect(compacted.status, JSON.stringify(compacted.body)).toBe(200);
    expect(compacted.body).toMatchObject({ compacted: true, removed_files: 4, rows: 20 });
    expect(await sql("SELECT count(*), sum(id) FROM cmp")).toEqual([[20, 190]]);
  });
});

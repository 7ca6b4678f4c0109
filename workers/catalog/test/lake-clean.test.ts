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
import { env, exports } from "cloudflare:workers";
import { createExecutionContext, createScheduledController, runInDurableObject } from "cloudflare:test";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { Catalog } from "../src/catalog";
import { schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "name", type: "string", nullable: true },
];
const BUCKET = "lakehouse-lake";

async function call(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; body: Json }> {
  const { json, ...rest } = init ?? {};
  const res = await exports.default.fetch(`http://x${path}`, {
    ...rest,
    ...(json !== undefined ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A real Parquet object of `rows` rows of SCHEMA, ids from `first`. */
async function putObject(key: string, rows: number, first = 0): Promise<{ key: string; size: number; row_count: number }> {
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: "id", data: Array.from({ length: rows }, (_, i) => BigInt(first + i)), type: "INT64" },
      { name: "name", data: Array.from({ length: rows }, (_, i) => `n${first + i}`), type: "STRING" },
    ],
  });
  await env.LAKE.put(key, bytes);
  return { key, size: bytes.byteLength, row_count: rows };
}

async function register(name: string, objects: { key: string; size: number; row_count: number }[], mode: "replace" | "append" = "replace"): Promise<Json> {
  const res = await call("/catalog/register", { method: "POST", json: { name, schema: SCHEMA, schema_fingerprint: await schemaFingerprint(SCHEMA), objects, mode } });
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
    Object.defineProperty(own, "env", { value: { ...before, ...vars }, configurable: true, writable: true });
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

/** snapshot id → parent id (null when the snapshot names none) */
function parents(metadata: Json): Record<number, number | null> {
  return Object.fromEntries(metadata.snapshots.map((s: Json) => [s["snapshot-id"], s["parent-snapshot-id"] ?? null]));
}

describe("a snapshot keeps its parent-snapshot-id after the parent expires (#21)", () => {
  it("retain_versions = 2: the REST metadata and every kept metadata file name each snapshot's parent, expired or not", async () => {
    const restore = await catalogVars({ LH_CATALOGD_RETAIN_VERSIONS: "2", LH_CATALOGD_RETAIN_DAYS: "0" });
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
      // readers follow snapshot-log and current-snapshot-id: the kept ancestry
      expect(metadata["snapshot-log"].map((e: Json) => e["snapshot-id"])).toEqual([4, 5]);
      expect(metadata["current-snapshot-id"]).toBe(5);
      // every metadata file a reader can reach (the current one and its log) says the same of the snapshots it holds
      const files = [keyOf(location), ...metadata["metadata-log"].map((e: Json) => keyOf(e["metadata-file"]))];
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const key of files) {
        const obj = await env.LAKE.get(key);
        expect(obj, key).not.toBeNull();
        const m = (await obj!.json()) as Json;
        for (const s of m.snapshots) expect(s["parent-snapshot-id"], `${key}: snapshot ${s["snapshot-id"]}`).toBe(s["snapshot-id"] - 1);
      }

      // retain_versions = 1: a new snapshot whose parent expires in the same commit still names it
      const restore1 = await catalogVars({ LH_CATALOGD_RETAIN_VERSIONS: "1" });
      const o = await putObject("datasets/par/p5.parquet", 3, 15);
      expect((await register("par", [o], "append")).version).toBe(6);
      await restore1();
      expect(parents((await tableMetadata("par")).metadata)).toEqual({ 6: 5 });

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
    expect((await call("/catalog/manifest/fresh", { method: "DELETE" })).status).toBe(204);
    const b = await putObject("datasets/fresh/b.parquet", 2);
    expect((await register("fresh", [b])).version).toBe(2);
    expect(parents((await tableMetadata("fresh")).metadata)).toEqual({ 2: null });
  });
});

// The catalog Worker and its Durable Object inside workerd, with the real storage and
// query Workers beside it: registration, idempotency, versions, drift, delete, and the
// migrations being applied once.
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { datasetId, schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "name", type: "string", nullable: true },
];

async function call(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; body: Json }> {
  const { json, ...rest } = init ?? {};
  const res = await exports.default.fetch(`http://x/catalog${path}`, {
    ...rest,
    ...(json !== undefined ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Writes a real Parquet object with `rows` rows of SCHEMA (the query Worker, told of each change, reads it). */
async function putObject(key: string, rows: number): Promise<{ key: string; size: number; row_count: number }> {
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: "id", data: Array.from({ length: rows }, (_, i) => BigInt(i)), type: "INT64" },
      { name: "name", data: Array.from({ length: rows }, (_, i) => `n${i}`), type: "STRING" },
    ],
  });
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, { method: "PUT", body: bytes });
  expect(res.status).toBe(200);
  return { key, size: bytes.byteLength, row_count: rows };
}

describe("catalog", () => {
  it("fingerprint and dataset id follow DESIGN (SHA-256 over name\\x1ftype pairs joined by \\x1e; UUIDv5)", async () => {
    const expected = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("id\x1fint64\x1ename\x1fstring"));
    const hex = [...new Uint8Array(expected)].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(await schemaFingerprint(SCHEMA)).toBe(hex);
    expect(datasetId("people")).toBe(datasetId("people"));
    expect(datasetId("people")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5/);
    expect(datasetId("people")).not.toBe(datasetId("people2"));
  });

  it("registers, is idempotent for identical objects, versions on change, 409 on drift, lists with version", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/t/a.parquet", 2);
    const first = await call("/register", { method: "POST", json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a] } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ name: "t", version: 1, row_count: 2, changed: true, dataset_id: datasetId("t"), schema_fingerprint: fp });

    const again = await call("/register", { method: "POST", json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a] } });
    expect(again.body).toMatchObject({ version: 1, changed: false });

    const b = await putObject("datasets/t/b.parquet", 1);
    const second = await call("/register", { method: "POST", json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a, b] } });
    expect(second.body).toMatchObject({ version: 2, row_count: 3, changed: true });
    expect(second.body.created_at).toBe(first.body.created_at);

    const drifted: SchemaField[] = [{ name: "id", type: "string", nullable: false }, SCHEMA[1]!];
    const dfp = await schemaFingerprint(drifted);
    const drift = await call("/register", { method: "POST", json: { name: "t", schema: drifted, schema_fingerprint: dfp, objects: [a] } });
    expect(drift.status).toBe(409);
    expect(drift.body.error.message).toContain(fp);
    expect(drift.body.error.message).toContain(dfp);

    expect((await call("/manifest/t?version=1")).body.row_count).toBe(2);
    expect((await call("/manifest/t")).body.version).toBe(2);
    expect((await call("/manifest/t?version=7")).status).toBe(404);
    expect((await call("/history/t")).body.versions.map((v: Json) => v.version)).toEqual([2, 1]);
    const list = await call("/list");
    expect(list.body.datasets).toEqual([
      { dataset_id: datasetId("t"), name: "t", schema_fingerprint: fp, row_count: 3, version: 2, updated_at: second.body.updated_at },
    ]);
  });

  it("rejects bad registrations naming the field", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/u/a.parquet", 1);
    const cases: [unknown, RegExp][] = [
      [{ name: "", schema: SCHEMA, schema_fingerprint: fp, objects: [a] }, /body.name: missing dataset name/],
      [{ name: "u", schema: SCHEMA, schema_fingerprint: "", objects: [a] }, /body.schema_fingerprint: must not be empty/],
      [{ name: "u", schema: SCHEMA, schema_fingerprint: "f".repeat(64), objects: [a] }, /does not match the schema \(computed /],
      [{ name: "u", schema: SCHEMA, schema_fingerprint: fp, objects: [{ ...a, key: "datasets/u/missing.parquet" }] }, /body.objects\[0\].key: object "datasets\/u\/missing.parquet" does not exist/],
      [{ name: "u", schema: SCHEMA, schema_fingerprint: fp, objects: [{ ...a, size: 999 }] }, /body.objects\[0\].size: 999 does not match/],
      [{ name: "u", schema: [{ name: "id", type: "decimal" }], schema_fingerprint: fp, objects: [a] }, /body\.schema\[0\]\.type/],
    ];
    for (const [json, message] of cases) {
      const res = await call("/register", { method: "POST", json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await call("/manifest/u")).status).toBe(404);
  });

  it("DELETE removes the dataset, every version, and its objects; versions never repeat after re-create", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/gone/a.parquet", 1);
    const b = await putObject("datasets/gone/b.parquet", 1);
    await call("/register", { method: "POST", json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [a] } });
    await call("/register", { method: "POST", json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [b] } });
    expect((await call("/manifest/gone", { method: "DELETE" })).status).toBe(204);
    expect((await call("/manifest/gone")).status).toBe(404);
    expect((await call("/manifest/gone?version=1")).status).toBe(404);
    expect((await call("/manifest/gone", { method: "DELETE" })).status).toBe(404);
    const left = await env.STORAGE.fetch("http://storage/storage/list?prefix=datasets/gone/");
    expect(((await left.json()) as Json).objects).toEqual([]);
    const c = await putObject("datasets/gone/c.parquet", 1);
    const again = await call("/register", { method: "POST", json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [c] } });
    expect(again.body.version).toBe(3);
  });

  it("applies its migrations once", async () => {
    const stub = env.CATALOG.get(env.CATALOG.idFromName("catalog"));
    const names = await runInDurableObject(stub, (_obj: unknown, state: DurableObjectState) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM _lh_migrations").toArray().map((r) => r.name),
    );
    expect(names).toEqual(["0001_init"]);
  });
});

describe("catalog openapi.json", () => {
  it("lists every route the catalog serves, with the schemas that validate them", async () => {
    const doc = (await (await exports.default.fetch("http://x/catalog/openapi.json")).json()) as Json;
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
    expect(listed.sort()).toEqual(
      ["post /catalog/register", "get /catalog/manifest/{name}", "delete /catalog/manifest/{name}", "get /catalog/history/{name}", "get /catalog/list"].sort(),
    );
    const params = doc.paths["/catalog/manifest/{name}"].get.parameters as Json[];
    expect(params.map((p) => `${p.in} ${p.name}`).sort()).toEqual(["path name", "query version"]);
    expect(params.find((p) => p.name === "name").schema.pattern).toBe("^[A-Za-z_][A-Za-z0-9_-]{0,127}$");
    expect(doc.paths["/catalog/register"].post.requestBody.content["application/json"].schema.properties.name.pattern).toBeDefined();
  });

  it("bad path and query values are 400s naming the parameter and value", async () => {
    const badName = await call("/manifest/bad%20name");
    expect(badName.status).toBe(400);
    expect(badName.body.error).toMatchObject({ code: "bad_request" });
    expect(badName.body.error.message).toMatch(/name: invalid dataset name "bad name"/);
    expect((await call("/history/bad%20name")).body.error.message).toMatch(/name: invalid dataset name/);
    expect((await call("/manifest/bad%20name", { method: "DELETE" })).status).toBe(400);
    for (const v of ["0", "x", "-1", ""]) {
      const res = await call(`/manifest/t?version=${v}`);
      expect(res.status, v).toBe(400);
      expect(res.body.error.message).toContain(`version: expected a positive integer, got ${JSON.stringify(v)}`);
    }
    const noType = await exports.default.fetch("http://x/catalog/register", { method: "POST", body: JSON.stringify({ name: "" }) });
    expect(noType.status).toBe(400);
    expect(((await noType.json()) as Json).error.message).toMatch(/body.name: missing dataset name/);
  });
});

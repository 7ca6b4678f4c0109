// The catalog Worker and its Durable Object inside workerd, with the real storage and
// query Workers beside it: registration, idempotency, versions, drift, delete, and the
// migrations being applied once. Issue #12: registration accepts only the dataset's own
// objects, each once; names equal but for case are refused; a delete removes only keys no
// kept version lists; staged-upload leases and the sweep (cron and route).

import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { datasetId, schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";
import type { Catalog } from "../src/catalog";
import worker from "../src/index";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "name", type: "string", nullable: true },
];

async function call(
  path: string,
  init?: RequestInit & { json?: unknown },
): Promise<{ status: number; body: Json }> {
  const { json, ...rest } = init ?? {};
  const res = await exports.default.fetch(`http://x/catalog${path}`, {
    ...rest,
    ...(json !== undefined
      ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } }
      : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Writes a real Parquet object with `rows` rows of SCHEMA (the query Worker, told of each change, reads it). */
async function putObject(
  key: string,
  rows: number,
): Promise<{ key: string; size: number; row_count: number }> {
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: "id", data: Array.from({ length: rows }, (_, i) => BigInt(i)), type: "INT64" },
      { name: "name", data: Array.from({ length: rows }, (_, i) => `n${i}`), type: "STRING" },
    ],
  });
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, {
    method: "PUT",
    body: bytes,
  });
  expect(res.status).toBe(200);
  return { key, size: bytes.byteLength, row_count: rows };
}

describe("catalog", () => {
  it("fingerprint and dataset id follow DESIGN (SHA-256 over name\\x1ftype pairs joined by \\x1e; UUIDv5)", async () => {
    const expected = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode("id\x1fint64\x1ename\x1fstring"),
    );
    const hex = [...new Uint8Array(expected)].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(await schemaFingerprint(SCHEMA)).toBe(hex);
    expect(datasetId("people")).toBe(datasetId("people"));
    expect(datasetId("people")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5/);
    expect(datasetId("people")).not.toBe(datasetId("people2"));
  });

  it("registers, is idempotent for identical objects, versions on change, 409 on drift, lists with version", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/t/a.parquet", 2);
    const first = await call("/register", {
      method: "POST",
      json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a] },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      name: "t",
      version: 1,
      row_count: 2,
      changed: true,
      dataset_id: datasetId("t"),
      schema_fingerprint: fp,
    });

    const again = await call("/register", {
      method: "POST",
      json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a] },
    });
    expect(again.body).toMatchObject({ version: 1, changed: false });

    const b = await putObject("datasets/t/b.parquet", 1);
    const second = await call("/register", {
      method: "POST",
      json: { name: "t", schema: SCHEMA, schema_fingerprint: fp, objects: [a, b] },
    });
    expect(second.body).toMatchObject({ version: 2, row_count: 3, changed: true });
    expect(second.body.created_at).toBe(first.body.created_at);

    const drifted: SchemaField[] = [{ name: "id", type: "string", nullable: false }, SCHEMA[1]!];
    const dfp = await schemaFingerprint(drifted);
    const drift = await call("/register", {
      method: "POST",
      json: { name: "t", schema: drifted, schema_fingerprint: dfp, objects: [a] },
    });
    expect(drift.status).toBe(409);
    expect(drift.body.error.message).toContain(fp);
    expect(drift.body.error.message).toContain(dfp);

    expect((await call("/manifest/t?version=1")).body.row_count).toBe(2);
    expect((await call("/manifest/t")).body.version).toBe(2);
    expect((await call("/manifest/t?version=7")).status).toBe(404);
    expect((await call("/history/t")).body.versions.map((v: Json) => v.version)).toEqual([2, 1]);
    const list = await call("/list");
    expect(list.body.datasets).toEqual([
      {
        dataset_id: datasetId("t"),
        name: "t",
        schema_fingerprint: fp,
        row_count: 3,
        bytes: a.size + b.size,
        version: 2,
        updated_at: second.body.updated_at,
      },
    ]);
  });

  it("rejects bad registrations naming the field", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/u/a.parquet", 1);
    const cases: [unknown, RegExp][] = [
      [
        { name: "", schema: SCHEMA, schema_fingerprint: fp, objects: [a] },
        /body.name: missing dataset name/,
      ],
      [
        { name: "u", schema: SCHEMA, schema_fingerprint: "", objects: [a] },
        /body.schema_fingerprint: must not be empty/,
      ],
      [
        { name: "u", schema: SCHEMA, schema_fingerprint: "f".repeat(64), objects: [a] },
        /does not match the schema \(computed /,
      ],
      [
        {
          name: "u",
          schema: SCHEMA,
          schema_fingerprint: fp,
          objects: [{ ...a, key: "datasets/u/missing.parquet" }],
        },
        /body.objects\[0\].key: object "datasets\/u\/missing.parquet" does not exist/,
      ],
      [
        { name: "u", schema: SCHEMA, schema_fingerprint: fp, objects: [{ ...a, size: 999 }] },
        /body.objects\[0\].size: 999 does not match/,
      ],
      [
        {
          name: "u",
          schema: [{ name: "id", type: "decimal" }],
          schema_fingerprint: fp,
          objects: [a],
        },
        /body\.schema\[0\]\.type/,
      ],
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
    await call("/register", {
      method: "POST",
      json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [a] },
    });
    await call("/register", {
      method: "POST",
      json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [b] },
    });
    expect((await call("/manifest/gone", { method: "DELETE" })).status).toBe(204);
    expect((await call("/manifest/gone")).status).toBe(404);
    expect((await call("/manifest/gone?version=1")).status).toBe(404);
    expect((await call("/manifest/gone", { method: "DELETE" })).status).toBe(404);
    const left = await env.STORAGE.fetch("http://storage/storage/list?prefix=datasets/gone/");
    expect(((await left.json()) as Json).objects).toEqual([]);
    const c = await putObject("datasets/gone/c.parquet", 1);
    const again = await call("/register", {
      method: "POST",
      json: { name: "gone", schema: SCHEMA, schema_fingerprint: fp, objects: [c] },
    });
    expect(again.body.version).toBe(3);
  });

  it("applies its migrations once", async () => {
    const stub = env.CATALOG.get(env.CATALOG.idFromName("catalog"));
    const names = await runInDurableObject(stub, (_obj: unknown, state: DurableObjectState) =>
      state.storage.sql
        .exec<{ name: string }>("SELECT name FROM _lh_migrations")
        .toArray()
        .map((r) => r.name),
    );
    expect(names).toEqual([
      "0001_init",
      "0002_refs_staging",
      "0003_linear_iceberg",
      "0004_parents_orphans",
    ]);
  });
});

async function exists(key: string): Promise<boolean> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, { method: "HEAD" });
  return res.status === 200;
}

function stub(): DurableObjectStub<Catalog> {
  return env.CATALOG.get(env.CATALOG.idFromName("catalog")) as DurableObjectStub<Catalog>;
}

describe("registration accepts only the dataset's own objects, each once (#12)", () => {
  it("refuses a key outside <prefix><name>/, a key twice, an append of a listed key; a forgery cannot delete the victim's data", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const v = await putObject("datasets/victim/a.parquet", 3);
    expect(
      (
        await call("/register", {
          method: "POST",
          json: { name: "victim", schema: SCHEMA, schema_fingerprint: fp, objects: [v] },
        })
      ).status,
    ).toBe(200);

    // Another dataset's object, a prefix look-alike, a key outside the prefix: 400 naming the field and key.
    await putObject("datasets/victimish/x.parquet", 1);
    await putObject("uploads/x.parquet", 1);
    for (const key of [
      "datasets/victim/a.parquet",
      "datasets/victimish/x.parquet",
      "uploads/x.parquet",
    ]) {
      const forged = await call("/register", {
        method: "POST",
        json: {
          name: "forger",
          schema: SCHEMA,
          schema_fingerprint: fp,
          objects: [{ ...v, key, size: key === v.key ? v.size : await storageSize(key) }],
        },
      });
      expect(forged.status, key).toBe(400);
      expect(forged.body.error.message).toContain(
        `body.objects[0].key: object ${JSON.stringify(key)} is not under "datasets/forger/"`,
      );
    }
    expect((await call("/manifest/forger")).status).toBe(404);

    // One object listed 20 times: 400, not 20× the rows.
    const f = await putObject("datasets/forger/f.parquet", 2);
    const twenty = await call("/register", {
      method: "POST",
      json: { name: "forger", schema: SCHEMA, schema_fingerprint: fp, objects: Array(20).fill(f) },
    });
    expect(twenty.status).toBe(400);
    expect(twenty.body.error.message).toContain(
      `body.objects[1].key: object "datasets/forger/f.parquet" is listed twice`,
    );

    // An append may not list a key the current version lists (it would load its rows twice).
    expect(
      (
        await call("/register", {
          method: "POST",
          json: { name: "forger", schema: SCHEMA, schema_fingerprint: fp, objects: [f] },
        })
      ).body.version,
    ).toBe(1);
    const again = await call("/register", {
      method: "POST",
      json: {
        name: "forger",
        schema: SCHEMA,
        schema_fingerprint: fp,
        objects: [f],
        mode: "append",
      },
    });
    expect(again.status).toBe(400);
    expect(again.body.error.message).toContain(
      `body.objects[0].key: object "datasets/forger/f.parquet" is already listed by the current version (1)`,
    );
    expect((await call("/manifest/forger")).body).toMatchObject({ version: 1, row_count: 2 });

    // Deleting the forger leaves the victim whole.
    expect((await call("/manifest/forger", { method: "DELETE" })).status).toBe(204);
    expect(await exists("datasets/victim/a.parquet")).toBe(true);
    expect((await call("/manifest/victim")).body).toMatchObject({ version: 1, row_count: 3 });
  });

  it("the Durable Object refuses a key another dataset lists (the rule that does not depend on the prefix)", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const o = await putObject("datasets/owner/o.parquet", 1);
    expect(
      (
        await call("/register", {
          method: "POST",
          json: { name: "owner", schema: SCHEMA, schema_fingerprint: fp, objects: [o] },
        })
      ).status,
    ).toBe(200);
    const result = await runInDurableObject(stub(), (cat: Catalog) =>
      cat.register({
        name: "thief",
        dataset_id: datasetId("thief"),
        schema: SCHEMA,
        schema_fingerprint: fp,
        objects: [o],
        mode: "replace",
        now: new Date().toISOString(),
      }),
    );
    expect(result).toEqual({
      rejected: {
        code: "bad_request",
        message: `body.objects[0].key: object "datasets/owner/o.parquet" is listed by another dataset ("owner")`,
      },
    });
  });

  it("a delete removes only keys no kept version of any dataset lists (a pre-fix forgery, as the migration backfills it)", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const a = await putObject("datasets/kept/a.parquet", 4);
    const b = await putObject("datasets/kept/b.parquet", 1);
    await call("/register", {
      method: "POST",
      json: { name: "kept", schema: SCHEMA, schema_fingerprint: fp, objects: [a] },
    });
    // Replace: version 2 lists only b; version 1 (kept) still lists a.
    expect(
      (
        await call("/register", {
          method: "POST",
          json: { name: "kept", schema: SCHEMA, schema_fingerprint: fp, objects: [b] },
        })
      ).body.version,
    ).toBe(2);
    // A forged dataset registered before the rules existed, listing the kept dataset's a and its own own.parquet.
    const own = await putObject("datasets/old_forgery/own.parquet", 1);
    await runInDurableObject(stub(), (_c: Catalog, state: DurableObjectState) => {
      const sql = state.storage.sql;
      sql.exec(
        "INSERT INTO datasets (name, dataset_id, schema_fingerprint, current_version, row_count, created_at, updated_at) VALUES ('old_forgery', ?, ?, 1, 5, 'x', 'x')",
        datasetId("old_forgery"),
        fp,
      );
      sql.exec(
        "INSERT INTO versions (name, version, schema, schema_fingerprint, row_count, bytes, file_count, operation, created_at, created_ms) VALUES ('old_forgery', 1, ?, ?, 5, 0, 2, 'overwrite', 'x', 0)",
        JSON.stringify(SCHEMA),
        fp,
      );
      for (const [i, o] of [a, own].entries()) {
        sql.exec(
          "INSERT INTO files (name, key, size, row_count, added_version, ord) VALUES ('old_forgery', ?, ?, ?, 1, ?)",
          o.key,
          o.size,
          o.row_count,
          i,
        );
      }
    });
    expect((await call("/manifest/old_forgery", { method: "DELETE" })).status).toBe(204);
    expect(await exists("datasets/kept/a.parquet")).toBe(true); // still listed by kept's version 1
    expect(await exists("datasets/old_forgery/own.parquet")).toBe(false);
    expect((await call("/manifest/kept?version=1")).body.objects.map((o: Json) => o.key)).toEqual([
      "datasets/kept/a.parquet",
    ]);
    // Deleting kept removes both its keys (no one else lists them).
    expect((await call("/manifest/kept", { method: "DELETE" })).status).toBe(204);
    expect(await exists("datasets/kept/a.parquet")).toBe(false);
    expect(await exists("datasets/kept/b.parquet")).toBe(false);
  });

  it("a name equal to an existing one but for case is a 409 naming both", async () => {
    const fp = await schemaFingerprint(SCHEMA);
    const foo = await putObject("datasets/Foo/a.parquet", 1);
    expect(
      (
        await call("/register", {
          method: "POST",
          json: { name: "Foo", schema: SCHEMA, schema_fingerprint: fp, objects: [foo] },
        })
      ).status,
    ).toBe(200);
    const lower = await putObject("datasets/foo/a.parquet", 2);
    const res = await call("/register", {
      method: "POST",
      json: { name: "foo", schema: SCHEMA, schema_fingerprint: fp, objects: [lower] },
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect(res.body.error.message).toContain(
      `dataset "foo" differs only in case from the existing dataset "Foo"`,
    );
    expect((await call("/manifest/foo")).status).toBe(404);
    // The exact name still registers new versions.
    const foo2 = await putObject("datasets/Foo/b.parquet", 1);
    expect(
      (
        await call("/register", {
          method: "POST",
          json: {
            name: "Foo",
            schema: SCHEMA,
            schema_fingerprint: fp,
            objects: [foo2],
            mode: "append",
          },
        })
      ).body,
    ).toMatchObject({ version: 2, row_count: 2 });
  });
});

async function storageSize(key: string): Promise<number> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, { method: "HEAD" });
  return Number(res.headers.get("content-length"));
}

describe("staged uploads: leases and the sweep (#12)", () => {
  async function stageObject(key: string): Promise<void> {
    const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, {
      method: "PUT",
      body: "a,b\n1,2\n",
    });
    expect(res.status).toBe(200);
  }

  it("keeps leased and fresh objects, deletes expired and unleased old ones; cron and route", async () => {
    expect(
      (await call("/staging/lease", { method: "POST", json: { key: "_ingest/live.csv" } })).status,
    ).toBe(200);
    await stageObject("_ingest/live.csv");
    expect(
      (
        await call("/staging/lease", {
          method: "POST",
          json: { key: "_ingest/dead.csv", lease_ms: 1 },
        })
      ).status,
    ).toBe(200);
    await stageObject("_ingest/dead.csv");
    await stageObject("_ingest/fresh.csv"); // no lease, younger than the grace: its lease may be on its way
    await new Promise((r) => setTimeout(r, 20));
    const swept = await call("/staging/sweep", { method: "POST" });
    expect(swept.status).toBe(200);
    expect(swept.body).toEqual({ deleted: ["_ingest/dead.csv"], kept: 2 });
    expect(await exists("_ingest/dead.csv")).toBe(false);
    expect((await call("/staging/leases")).body.leases.map((l: Json) => l.key)).toEqual([
      "_ingest/live.csv",
    ]);

    // The cron trigger, with a grace of 0: the unleased object goes, the leased one stays.
    await worker.scheduled!(
      createScheduledController({ cron: "*/10 * * * *", scheduledTime: Date.now() }),
      { ...env, LH_CATALOGD_STAGING_GRACE_S: "0" } as Env,
      createExecutionContext(),
    );
    expect(await exists("_ingest/fresh.csv")).toBe(false);
    expect(await exists("_ingest/live.csv")).toBe(true);

    // Released: the next sweep past the grace deletes it.
    expect(
      (await call("/staging/release", { method: "POST", json: { key: "_ingest/live.csv" } }))
        .status,
    ).toBe(204);
    await worker.scheduled!(
      createScheduledController({ cron: "*/10 * * * *" }),
      { ...env, LH_CATALOGD_STAGING_GRACE_S: "0" } as Env,
      createExecutionContext(),
    );
    expect(await exists("_ingest/live.csv")).toBe(false);
    expect((await call("/staging/leases")).body.leases).toEqual([]);

    // Only _ingest/ keys can be leased.
    const bad = await call("/staging/lease", {
      method: "POST",
      json: { key: "datasets/x/a.parquet" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body.key: expected a key under _ingest\//);
  });
});

describe("catalog openapi.json", () => {
  it("lists every route the catalog serves, with the schemas that validate them", async () => {
    const doc = (await (
      await exports.default.fetch("http://x/catalog/openapi.json")
    ).json()) as Json;
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual(
      [
        "post /catalog/register",
        "get /catalog/manifest/{name}",
        "delete /catalog/manifest/{name}",
        "get /catalog/history/{name}",
        "get /catalog/list",
        "get /catalog/stats",
        "post /catalog/compact/{name}",
      ].sort(),
    );
    const params = doc.paths["/catalog/manifest/{name}"].get.parameters as Json[];
    expect(params.map((p) => `${p.in} ${p.name}`).sort()).toEqual(["path name", "query version"]);
    expect(params.find((p) => p.name === "name").schema.pattern).toBe(
      "^[A-Za-z_][A-Za-z0-9_-]{0,127}$",
    );
    expect(
      doc.paths["/catalog/register"].post.requestBody.content["application/json"].schema.properties
        .name.pattern,
    ).toBeDefined();
  });

  it("bad path and query values are 400s naming the parameter and value", async () => {
    const badName = await call("/manifest/bad%20name");
    expect(badName.status).toBe(400);
    expect(badName.body.error).toMatchObject({ code: "bad_request" });
    expect(badName.body.error.message).toMatch(/name: invalid dataset name "bad name"/);
    expect((await call("/history/bad%20name")).body.error.message).toMatch(
      /name: invalid dataset name/,
    );
    expect((await call("/manifest/bad%20name", { method: "DELETE" })).status).toBe(400);
    for (const v of ["0", "x", "-1", ""]) {
      const res = await call(`/manifest/t?version=${v}`);
      expect(res.status, v).toBe(400);
      expect(res.body.error.message).toContain(
        `version: expected a positive integer, got ${JSON.stringify(v)}`,
      );
    }
    const noType = await exports.default.fetch("http://x/catalog/register", {
      method: "POST",
      body: JSON.stringify({ name: "" }),
    });
    expect(noType.status).toBe(400);
    expect(((await noType.json()) as Json).error.message).toMatch(
      /body.name: missing dataset name/,
    );
  });
});

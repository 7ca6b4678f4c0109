// The open lake, end to end through the gateway (issue #13):
// - every dataset is an Iceberg table: ingest, append ×3, replace; an outside Iceberg reader
//   (icebird, a test dependency) loads each table from the REST catalog's metadata location and
//   reads it through the storage API, at every snapshot (time travel); DuckDB reads every data file;
// - the REST catalog answers the spec's shapes, and its 404s;
// - 200 appends of 100 rows: catalog storage linear in files, SQL sees every row, compaction
//   leaves ≤ 2 files with the same rows, time travel inside retention, expired files gone and
//   every kept snapshot whole, each naming its parent even once that expired — across a restart.
// Retention is [catalogd].retain_versions = 5, retain_days = 0 here, so expiry is visible.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { icebergRead } from "icebird";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type System, startSystem } from "./harness";

const TOKEN = "lake-token";
const BUCKET = "lakehouse-lake";
let sys: System;
const tmp = mkdtempSync(join(tmpdir(), "lakehouse-lake-e2e-"));

beforeAll(async () => {
  sys = await startSystem({
    vars: { AUTH_TOKEN: TOKEN },
    workerVars: { LH_CATALOGD_RETAIN_VERSIONS: "5", LH_CATALOGD_RETAIN_DAYS: "0" },
  });
  // icebird fetches https://<bucket>.s3.amazonaws.com/<key>: those go to our storage API.
  const realFetch = globalThis.fetch;
  vi.stubGlobal("fetch", (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    if (url.hostname === `${BUCKET}.s3.amazonaws.com`) {
      const headers = new Headers(init?.headers);
      headers.set("authorization", `Bearer ${TOKEN}`);
      return realFetch(`${sys.url}/v1/storage/objects${url.pathname}`, { ...init, headers });
    }
    return realFetch(input, init);
  }) as typeof fetch);
});

afterAll(async () => {
  vi.unstubAllGlobals();
  await sys?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function ingest(
  name: string,
  csv: string,
  mode: "replace" | "append" = "replace",
): Promise<any> {
  const res = await sys.json(`/v1/ingest?name=${name}&mode=${mode}`, {
    method: "POST",
    headers: { "content-type": "text/csv" },
    body: csv,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function loadTable(name: string): Promise<{ location: string; metadata: any }> {
  const res = await sys.json(`/v1/iceberg/v1/namespaces/default/tables/${name}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { location: res.body["metadata-location"], metadata: res.body.metadata };
}

/** The table's rows at `snapshot` (default: current), read by icebird from the metadata alone. */
async function icebergRows(name: string, snapshot?: number): Promise<any[]> {
  const { metadata } = await loadTable(name);
  const at = snapshot === undefined ? metadata : { ...metadata, "current-snapshot-id": snapshot };
  return icebergRead({
    tableUrl: metadata.location.replace(`s3://${BUCKET}/`, `https://${BUCKET}.s3.amazonaws.com/`),
    metadata: at,
  });
}

async function sqlRows(text: string): Promise<unknown[][]> {
  const res = await sys.json("/v1/sql", { method: "POST", json: { sql: text } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.rows;
}

async function exists(key: string): Promise<boolean> {
  const res = await sys.fetch(`/v1/storage/objects/${key}`, { method: "HEAD" });
  return res.status === 200;
}

function people(from: number, to: number): string {
  const lines = ["id,name,score,joined"];
  for (let i = from; i <= to; i++)
    lines.push(
      `${i},person ${i},${i * 1.5},2024-01-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`,
    );
  return lines.join("\n") + "\n";
}

describe("every dataset is an Iceberg table", () => {
  it("ingest, append ×3, replace: icebird reads each snapshot through the storage API; DuckDB reads every data file", async () => {
    const steps: { csv: string; mode: "replace" | "append"; ids: number[] }[] = [
      { csv: people(1, 4), mode: "replace", ids: [1, 2, 3, 4] },
      { csv: people(5, 7), mode: "append", ids: [1, 2, 3, 4, 5, 6, 7] },
      { csv: people(8, 8), mode: "append", ids: [1, 2, 3, 4, 5, 6, 7, 8] },
      { csv: people(9, 12), mode: "append", ids: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] },
      { csv: people(100, 102), mode: "replace", ids: [100, 101, 102] },
    ];
    const versions: number[] = [];
    for (const step of steps) {
      const out = await ingest("lake_people", step.csv, step.mode);
      versions.push(out.version);
      const rows = await icebergRows("lake_people");
      expect(rows.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(step.ids);
    }
    // the current table's snapshots are the catalog's versions; its metadata names them
    const { location, metadata } = await loadTable("lake_people");
    expect(location).toMatch(
      new RegExp(
        `^s3://${BUCKET}/datasets/lake_people/metadata/\\d{5}-[0-9a-f-]+\\.metadata\\.json$`,
      ),
    );
    expect(metadata["format-version"]).toBe(2);
    expect(metadata["current-snapshot-id"]).toBe(versions.at(-1));
    expect(metadata.snapshots.map((s: any) => s["snapshot-id"])).toEqual(versions);
    expect(metadata.snapshots.map((s: any) => s.summary.operation)).toEqual([
      "append",
      "append",
      "append",
      "append",
      "overwrite",
    ]);
    expect(metadata.schemas[0].fields.map((f: any) => [f.id, f.name, f.type])).toEqual([
      [1, "id", "long"],
      [2, "name", "string"],
      [3, "score", "double"],
      [4, "joined", "timestamptz"],
    ]);
    // time travel: every snapshot, read by icebird, and by ?version= in the catalog
    for (const [i, step] of steps.entries()) {
      const rows = await icebergRows("lake_people", versions[i]);
      expect(
        rows.map((r) => Number(r.id)).sort((a, b) => a - b),
        `snapshot ${versions[i]}`,
      ).toEqual(step.ids);
      const m = await sys.json(`/v1/catalog/manifest/lake_people?version=${versions[i]}`);
      expect(m.body.row_count).toBe(step.ids.length);
    }
    // values, not only ids: the latest snapshot's rows as the CSV has them
    const latest = await icebergRows("lake_people");
    const r100 = latest.find((r) => Number(r.id) === 100);
    expect(r100.name).toBe("person 100");
    expect(r100.score).toBe(150);
    expect(new Date(r100.joined).toISOString()).toBe("2024-01-17T10:00:00.000Z");
    // DuckDB reads every data file of every version
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    for (const v of versions) {
      const m = (await sys.json(`/v1/catalog/manifest/lake_people?version=${v}`)).body;
      let total = 0;
      for (const o of m.objects) {
        const res = await sys.fetch(`/v1/storage/objects/${o.key}`);
        expect(res.status).toBe(200);
        const path = join(tmp, o.key.replaceAll("/", "_"));
        writeFileSync(path, Buffer.from(await res.arrayBuffer()));
        const n = Number(
          (
            await con.runAndReadAll(`SELECT count(*) FROM read_parquet('${path}')`)
          ).getRows()[0]![0],
        );
        expect(n).toBe(o.row_count);
        total += n;
      }
      expect(total).toBe(m.row_count);
    }
    con.closeSync();
  });

  it("the REST catalog answers the spec's shapes; an unknown namespace or table is the spec's 404", async () => {
    expect((await sys.json("/v1/iceberg/v1/config")).body).toMatchObject({
      defaults: {},
      overrides: {},
    });
    expect((await sys.json("/v1/iceberg/v1/namespaces")).body).toEqual({
      namespaces: [["default"]],
    });
    expect((await sys.json("/v1/iceberg/v1/namespaces/default")).body).toMatchObject({
      namespace: ["default"],
    });
    const tables = (await sys.json("/v1/iceberg/v1/namespaces/default/tables")).body;
    expect(tables.identifiers).toContainEqual({ namespace: ["default"], name: "lake_people" });
    const noNs = await sys.json("/v1/iceberg/v1/namespaces/nope/tables");
    expect(noNs.status).toBe(404);
    expect(noNs.body).toEqual({
      error: {
        message: expect.stringContaining("nope"),
        type: "NoSuchNamespaceException",
        code: 404,
      },
    });
    const noTable = await sys.json("/v1/iceberg/v1/namespaces/default/tables/nope");
    expect(noTable.status).toBe(404);
    expect(noTable.body.error).toMatchObject({ type: "NoSuchTableException", code: 404 });
    // commits happen only through ingest: the write side is not on the public surface
    expect(
      (await sys.fetch("/v1/iceberg/v1/namespaces/default/tables", { method: "POST", body: "{}" }))
        .status,
    ).toBe(405);
    // and the metadata is the lake's, read-only from outside
    expect(
      (
        await sys.fetch("/v1/storage/objects/datasets/lake_people/metadata/x.json", {
          method: "PUT",
          body: "{}",
        })
      ).status,
    ).toBe(403);
  });
});

describe("200 appends: linear catalog, compaction, retention, across a restart", () => {
  const N = 200;
  const ROWS = 100;
  const batch = (b: number) => {
    const lines = ["id,batch,v"];
    for (let i = 0; i < ROWS; i++) lines.push(`${b * ROWS + i},${b},${(b * ROWS + i) % 7}`);
    return lines.join("\n") + "\n";
  };
  const expectedSum = ((N * ROWS - 1) * N * ROWS) / 2;
  let beforeCompaction = 0;

  it("appends 200 times: the catalog grows with files, not versions × files; SQL sees every row", async () => {
    const bytes: number[] = [];
    for (let b = 0; b < N; b++) {
      const out = await ingest("lake_many", batch(b), b === 0 ? "replace" : "append");
      expect(out.row_count).toBe((b + 1) * ROWS);
      if ((b + 1) % 50 === 0) bytes.push((await sys.json("/v1/catalog/stats")).body.database_bytes);
    }
    beforeCompaction = (await sys.json("/v1/catalog/manifest/lake_many")).body.version;
    const stats = (await sys.json("/v1/catalog/stats")).body;
    // one row per file and per kept version: 200 files, 5 versions (retention) of this dataset
    expect(stats.files).toBeLessThan(N + 50);
    expect(stats.versions).toBeLessThan(5 + 10);
    // linear: the last 100 appends cost about what the first 100 did (quadratic would be 3×)
    const first = bytes[1]! - bytes[0]!;
    const last = bytes[3]! - bytes[2]!;
    expect(last).toBeLessThanOrEqual(Math.max(first * 1.5, 64 * 1024));
    expect(await sqlRows("SELECT count(*), sum(id), count(DISTINCT batch) FROM lake_many")).toEqual(
      [[N * ROWS, expectedSum, N]],
    );
    // the Iceberg table has every row
    expect((await icebergRows("lake_many")).length).toBe(N * ROWS);
  });

  it("compaction leaves ≤ 2 files with the same rows; time travel to the version before it still works", async () => {
    const res = await sys.json("/v1/catalog/compact/lake_many", { method: "POST" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ compacted: true, removed_files: N, rows: N * ROWS });
    const m = (await sys.json("/v1/catalog/manifest/lake_many")).body;
    expect(m.objects.length).toBeLessThanOrEqual(2);
    expect(m.row_count).toBe(N * ROWS);
    expect(await sqlRows("SELECT count(*), sum(id), count(DISTINCT batch) FROM lake_many")).toEqual(
      [[N * ROWS, expectedSum, N]],
    );
    const { metadata } = await loadTable("lake_many");
    expect(metadata.snapshots.at(-1).summary.operation).toBe("replace");
    // inside retention: the version before compaction, its 200 files, and its snapshot
    const before = (await sys.json(`/v1/catalog/manifest/lake_many?version=${beforeCompaction}`))
      .body;
    expect(before.objects.length).toBe(N);
    for (const o of before.objects.slice(0, 20)) expect(await exists(o.key)).toBe(true);
    expect((await icebergRows("lake_many", beforeCompaction)).length).toBe(N * ROWS);
    expect((await icebergRows("lake_many")).length).toBe(N * ROWS);
  });

  it("past retention the small files are deleted, no kept snapshot is broken, and all of it survives a restart", async () => {
    const small = (
      await sys.json(`/v1/catalog/manifest/lake_many?version=${beforeCompaction}`)
    ).body.objects.map((o: any) => o.key);
    for (let b = N; b < N + 5; b++) await ingest("lake_many", batch(b), "append");
    const total = (N + 5) * ROWS;
    const check = async () => {
      expect(
        (await sys.json(`/v1/catalog/manifest/lake_many?version=${beforeCompaction}`)).status,
      ).toBe(404);
      for (const k of small.slice(0, 30)) expect(await exists(k), k).toBe(false);
      const history = (await sys.json("/v1/catalog/history/lake_many")).body.versions;
      expect(history.length).toBe(5);
      const { metadata } = await loadTable("lake_many");
      expect(metadata.snapshots.map((s: any) => s["snapshot-id"])).toEqual(
        history.map((v: any) => v.version).reverse(),
      );
      // each snapshot keeps its parent, also the oldest kept one whose parent expired (#21)
      for (const s of metadata.snapshots)
        expect(s["parent-snapshot-id"], `snapshot ${s["snapshot-id"]}`).toBe(s["snapshot-id"] - 1);
      for (const v of history) {
        for (const o of v.objects)
          expect(await exists(o.key), `${o.key} of version ${v.version}`).toBe(true);
        expect((await icebergRows("lake_many", v.version)).length, `snapshot ${v.version}`).toBe(
          v.row_count,
        );
      }
      // every metadata file the current one names still exists
      for (const entry of metadata["metadata-log"])
        expect(await exists(entry["metadata-file"].replace(`s3://${BUCKET}/`, ""))).toBe(true);
      expect(await sqlRows("SELECT count(*), count(DISTINCT batch) FROM lake_many")).toEqual([
        [total, N + 5],
      ]);
    };
    await check();
    await sys.restart();
    await check();
    // and it keeps working after the restart
    await ingest("lake_many", batch(N + 5), "append");
    expect(await sqlRows("SELECT count(*) FROM lake_many")).toEqual([[total + ROWS]]);
  });
});

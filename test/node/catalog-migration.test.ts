// Migration 0003 (catalog storage linear in files) on a catalog written by the earlier schema:
// every version keeps exactly its objects, in order, and nothing else; migration 0004 backfills
// each version's parent snapshot. Runs the real migration
// files on SQLite (node:sqlite, the same SQL dialect as a Durable Object's storage).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";

const dir = resolve(import.meta.dirname, "../../migrations/catalog");
const sql = (name: string) => readFileSync(resolve(dir, name), "utf8");

const obj = (key: string, rows: number) => ({
  key: `datasets/t/${key}`,
  size: rows * 10,
  row_count: rows,
});

describe("catalog migration 0003", () => {
  it("turns per-version object lists into one row per file with its span of versions", () => {
    const db = new DatabaseSync(":memory:");
    db.exec(sql("0001_init.sql"));
    db.exec(sql("0002_refs_staging.sql"));
    const schema = [{ name: "id", type: "int64", nullable: false }];
    const versions = [
      [obj("a", 1)], // v1
      [obj("a", 1), obj("b", 2)], // v2: append
      [obj("a", 1), obj("b", 2), obj("c", 3)], // v3: append
      [obj("d", 4)], // v4: replace
      [obj("d", 4), obj("e", 5)], // v5: append
    ];
    versions.forEach((objects, i) => {
      const manifest = {
        name: "t",
        schema,
        schema_fingerprint: "fp",
        objects,
        row_count: objects.reduce((s, o) => s + o.row_count, 0),
        version: i + 1,
      };
      db.prepare(
        "INSERT INTO versions (name, version, manifest, created_at) VALUES ('t', ?, ?, ?)",
      ).run(i + 1, JSON.stringify(manifest), `2026-11-0${i + 1}T00:00:00.000Z`);
      for (const o of objects)
        db.prepare("INSERT INTO object_refs (key, name, version) VALUES (?, 't', ?)").run(
          o.key,
          i + 1,
        );
    });
    db.prepare("INSERT INTO datasets VALUES ('t', 'id', 'fp', 5, 9, 'x', 'y')").run();
    db.exec(sql("0003_linear_iceberg.sql"));

    const files = db
      .prepare(
        "SELECT key, added_version, removed_version, size, row_count FROM files ORDER BY ord",
      )
      .all();
    expect(files).toEqual([
      { key: "datasets/t/a", added_version: 1, removed_version: 4, size: 10, row_count: 1 },
      { key: "datasets/t/b", added_version: 2, removed_version: 4, size: 20, row_count: 2 },
      { key: "datasets/t/c", added_version: 3, removed_version: 4, size: 30, row_count: 3 },
      { key: "datasets/t/d", added_version: 4, removed_version: null, size: 40, row_count: 4 },
      { key: "datasets/t/e", added_version: 5, removed_version: null, size: 50, row_count: 5 },
    ]);
    // each version's objects, as the catalog reads them now
    for (const [i, objects] of versions.entries()) {
      const v = i + 1;
      const live = db
        .prepare(
          "SELECT key FROM files WHERE name = 't' AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY ord",
        )
        .all(v, v)
        .map((r) => (r as { key: string }).key);
      expect(live, `version ${v}`).toEqual(objects.map((o) => o.key));
    }
    const rows = db
      .prepare(
        "SELECT version, row_count, bytes, file_count, created_ms FROM versions ORDER BY version",
      )
      .all();
    expect(rows.map((r) => (r as { file_count: number }).file_count)).toEqual([1, 2, 3, 1, 2]);
    expect(rows[0]).toMatchObject({
      version: 1,
      row_count: 1,
      bytes: 10,
      created_ms: Date.parse("2026-11-01T00:00:00.000Z"),
    });
    expect(db.prepare("SELECT bytes, file_count FROM datasets").get()).toEqual({
      bytes: 90,
      file_count: 2,
    });
    expect(
      db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'object_refs'").get(),
    ).toEqual({ n: 0 });
  });
});

describe("catalog migration 0004 (#21)", () => {
  it("backfills each version's parent: the previous kept version; for the oldest kept, version − 1 unless it is the table's first", () => {
    const db = new DatabaseSync(":memory:");
    for (const f of ["0001_init.sql", "0002_refs_staging.sql", "0003_linear_iceberg.sql"])
      db.exec(sql(f));
    const version = (name: string, v: number, created: string) =>
      db
        .prepare(
          "INSERT INTO versions (name, version, schema, schema_fingerprint, row_count, bytes, file_count, operation, created_at, created_ms) VALUES (?, ?, '[]', 'fp', 0, 0, 0, 'append', ?, 0)",
        )
        .run(name, v, created);
    const dataset = (name: string, current: number, created: string) =>
      db
        .prepare(
          "INSERT INTO datasets (name, dataset_id, schema_fingerprint, current_version, row_count, created_at, updated_at) VALUES (?, 'id', 'fp', ?, 0, ?, ?)",
        )
        .run(name, current, created, created);
    // "kept": versions 1 and 2 expired, 3..5 kept
    dataset("kept", 5, "2026-01-01T00:00:00.000Z");
    for (const v of [3, 4, 5]) version("kept", v, `2026-01-0${v}T00:00:00.000Z`);
    // "again": deleted at version 6 and made again: 7 is its table's first snapshot
    dataset("again", 8, "2026-02-07T00:00:00.000Z");
    version("again", 7, "2026-02-07T00:00:00.000Z");
    version("again", 8, "2026-02-08T00:00:00.000Z");
    // "one": a single first version
    dataset("one", 1, "2026-03-01T00:00:00.000Z");
    version("one", 1, "2026-03-01T00:00:00.000Z");
    db.exec(sql("0004_parents_orphans.sql"));
    const parents = db
      .prepare("SELECT name, version, parent_version FROM versions ORDER BY name, version")
      .all();
    expect(parents).toEqual([
      { name: "again", version: 7, parent_version: null },
      { name: "again", version: 8, parent_version: 7 },
      { name: "kept", version: 3, parent_version: 2 },
      { name: "kept", version: 4, parent_version: 3 },
      { name: "kept", version: 5, parent_version: 4 },
      { name: "one", version: 1, parent_version: null },
    ]);
    expect(db.prepare("SELECT COUNT(*) AS n FROM orphan_sweep").get()).toEqual({ n: 0 });
  });
});

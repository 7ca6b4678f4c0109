// The Catalog Durable Object: every dataset's manifests and versions in SQLite.
// One instance ("catalog") serialises every change, so concurrent registrations of one
// dataset never lose a version: each method below runs synchronously from read to
// write (no await in between), inside one storage transaction.
// It also enforces the registration rules that need the whole catalog (a key listed by
// another dataset, a key appended twice, a name equal to another but for case), keeps
// object_refs (key → the versions listing it) so a deletion removes only keys no kept
// version lists any more, and holds the leases of staged ingest uploads (`staging`) that
// the sweep in index.ts consults. Rules: docs/storage-layout.md.
import { DurableObject } from "cloudflare:workers";
import { applyMigrations } from "../../../shared/migrations";
import type { DatasetSummary, Manifest, ManifestObject, SchemaField } from "../../../shared/types";
import { MIGRATIONS } from "../../../migrations/catalog/index";

export interface RegisterInput {
  name: string;
  dataset_id: string;
  schema: SchemaField[];
  schema_fingerprint: string;
  objects: ManifestObject[];
  /** replace (default): the objects are the new version's objects; append: added to the current ones. */
  mode: "replace" | "append";
  now: string;
}

export interface RegisterResult {
  manifest: Manifest;
  /** false when nothing changed (identical objects): no new version was made. */
  changed: boolean;
}

export interface RegisterConflict {
  conflict: { existing_fingerprint: string; existing_schema: SchemaField[] };
}

/** A registration refused by a rule that needs the catalog's state (400 or 409, message names the field and key). */
export interface RegisterRejected {
  rejected: { code: "bad_request" | "conflict"; message: string };
}

export interface RemoveResult {
  manifest: Manifest;
  /** The keys the dataset's versions listed that no kept version of any dataset lists any more: safe to delete. */
  keys: string[];
}

/** A staged object seen in a listing, for the sweep. */
export interface StagedObject {
  key: string;
  /** Upload time, epoch milliseconds. */
  uploaded: number;
}

/** Two objects are the same content when both carry a content hash and it matches, else when the keys match. */
function sameObject(a: ManifestObject, b: ManifestObject): boolean {
  if (a.content_sha256 && b.content_sha256) return a.content_sha256 === b.content_sha256;
  return a.key === b.key;
}

function sameObjects(a: ManifestObject[], b: ManifestObject[]): boolean {
  return a.length === b.length && a.every((o, i) => sameObject(o, b[i]!));
}

export class Catalog extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
    });
  }

  private current(name: string): Manifest | undefined {
    const row = this.sql
      .exec<{ manifest: string }>(
        "SELECT v.manifest FROM datasets d JOIN versions v ON v.name = d.name AND v.version = d.current_version WHERE d.name = ?",
        name,
      )
      .toArray()[0];
    return row ? (JSON.parse(row.manifest) as Manifest) : undefined;
  }

  register(input: RegisterInput): RegisterResult | RegisterConflict | RegisterRejected {
    return this.ctx.storage.transactionSync(() => {
      const cur = this.current(input.name);
      if (!cur) {
        // SQL table names are case-insensitive: `Foo` and `foo` would read each other's data.
        const other = this.sql
          .exec<{ name: string }>("SELECT name FROM datasets WHERE name = ? COLLATE NOCASE AND name <> ?", input.name, input.name)
          .toArray()[0];
        if (other) {
          return {
            rejected: {
              code: "conflict",
              message: `body.name: dataset ${JSON.stringify(input.name)} differs only in case from the existing dataset ${JSON.stringify(other.name)} (names are case-insensitive as SQL tables)`,
            },
          };
        }
      }
      if (cur && cur.schema_fingerprint !== input.schema_fingerprint) {
        // Returned, not thrown: a LakehouseError does not keep its code across the RPC boundary.
        return { conflict: { existing_fingerprint: cur.schema_fingerprint, existing_schema: cur.schema } };
      }
      for (const [i, o] of input.objects.entries()) {
        const owner = this.sql
          .exec<{ name: string }>("SELECT name FROM object_refs WHERE key = ? AND name <> ? LIMIT 1", o.key, input.name)
          .toArray()[0];
        if (owner) {
          return { rejected: { code: "bad_request", message: `body.objects[${i}].key: object ${JSON.stringify(o.key)} is listed by another dataset (${JSON.stringify(owner.name)})` } };
        }
        if (input.mode === "append" && cur?.objects.some((c) => c.key === o.key)) {
          return {
            rejected: {
              code: "bad_request",
              message: `body.objects[${i}].key: object ${JSON.stringify(o.key)} is already listed by the current version (${cur.version}) of ${JSON.stringify(input.name)}; an append adds new objects only`,
            },
          };
        }
      }
      let objects: ManifestObject[];
      if (input.mode === "append" && cur) {
        const fresh = input.objects.filter((o) => !cur.objects.some((c) => sameObject(c, o)));
        objects = [...cur.objects, ...fresh];
      } else {
        objects = input.objects;
      }
      if (cur && sameObjects(cur.objects, objects)) return { manifest: cur, changed: false };

      const counter = this.sql.exec<{ last_version: number }>("SELECT last_version FROM version_counters WHERE name = ?", input.name).toArray()[0];
      const version = (counter?.last_version ?? 0) + 1;
      // The schema's nullability is the union over the dataset's objects (append may add nulls).
      const schema = input.schema.map((f, i) => ({ ...f, nullable: f.nullable || (input.mode === "append" && !!cur?.schema[i]?.nullable) }));
      const manifest: Manifest = {
        dataset_id: input.dataset_id,
        name: input.name,
        schema,
        schema_fingerprint: input.schema_fingerprint,
        objects,
        row_count: objects.reduce((s, o) => s + o.row_count, 0),
        version,
        created_at: cur?.created_at ?? input.now,
        updated_at: input.now,
      };
      this.sql.exec(
        "INSERT INTO version_counters (name, last_version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
        input.name,
        version,
      );
      this.sql.exec("INSERT INTO versions (name, version, manifest, created_at) VALUES (?, ?, ?, ?)", input.name, version, JSON.stringify(manifest), input.now);
      for (const o of objects) this.sql.exec("INSERT OR IGNORE INTO object_refs (key, name, version) VALUES (?, ?, ?)", o.key, input.name, version);
      this.sql.exec(
        `INSERT INTO datasets (name, dataset_id, schema_fingerprint, current_version, row_count, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET current_version = excluded.current_version, row_count = excluded.row_count, updated_at = excluded.updated_at`,
        input.name,
        manifest.dataset_id,
        manifest.schema_fingerprint,
        version,
        manifest.row_count,
        manifest.created_at,
        manifest.updated_at,
      );
      return { manifest, changed: true };
    });
  }

  manifest(name: string, version?: number): Manifest | null {
    if (version === undefined) return this.current(name) ?? null;
    // Versions of a deleted dataset are gone with it.
    const row = this.sql
      .exec<{ manifest: string }>(
        "SELECT v.manifest FROM versions v JOIN datasets d ON d.name = v.name WHERE v.name = ? AND v.version = ?",
        name,
        version,
      )
      .toArray()[0];
    return row ? (JSON.parse(row.manifest) as Manifest) : null;
  }

  history(name: string, limit: number): Manifest[] | null {
    if (!this.current(name)) return null;
    return this.sql
      .exec<{ manifest: string }>("SELECT manifest FROM versions WHERE name = ? ORDER BY version DESC LIMIT ?", name, limit)
      .toArray()
      .map((r) => JSON.parse(r.manifest) as Manifest);
  }

  list(): DatasetSummary[] {
    return this.sql
      .exec<{ dataset_id: string; name: string; schema_fingerprint: string; row_count: number; current_version: number; updated_at: string }>(
        "SELECT dataset_id, name, schema_fingerprint, row_count, current_version, updated_at FROM datasets ORDER BY name",
      )
      .toArray()
      .map((r) => ({
        dataset_id: r.dataset_id,
        name: r.name,
        schema_fingerprint: r.schema_fingerprint,
        row_count: r.row_count,
        version: r.current_version,
        updated_at: r.updated_at,
      }));
  }

  /**
   * Deletes the dataset and all its versions; returns the keys they listed that no kept
   * version (of any dataset) lists any more — only those may be deleted from storage.
   */
  remove(name: string): RemoveResult | null {
    return this.ctx.storage.transactionSync(() => {
      const cur = this.current(name);
      if (!cur) return null;
      const candidates = this.sql.exec<{ key: string }>("SELECT DISTINCT key FROM object_refs WHERE name = ?", name).toArray().map((r) => r.key);
      this.sql.exec("DELETE FROM object_refs WHERE name = ?", name);
      this.sql.exec("DELETE FROM versions WHERE name = ?", name);
      this.sql.exec("DELETE FROM datasets WHERE name = ?", name);
      return { manifest: cur, keys: this.unreferenced(candidates) };
    });
  }

  /** The keys among `candidates` that no remaining version lists. Any code that drops versions goes through this. */
  private unreferenced(candidates: string[]): string[] {
    return candidates.filter((k) => this.sql.exec("SELECT 1 FROM object_refs WHERE key = ? LIMIT 1", k).toArray().length === 0);
  }

  // ---- leases of staged ingest uploads ----

  /** Records or renews the lease of a staged key until now + leaseMs; returns the expiry. */
  lease(key: string, leaseMs: number): number {
    const expires = Date.now() + leaseMs;
    this.sql.exec("INSERT INTO staging (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at", key, expires);
    return expires;
  }

  release(key: string): void {
    this.sql.exec("DELETE FROM staging WHERE key = ?", key);
  }

  /**
   * Given staged objects from a listing, returns those to delete: a lease missing (and the
   * object older than `graceMs`, since the lease is written before the object) or expired.
   * Expired leases are dropped.
   */
  staleStaged(objects: StagedObject[], graceMs: number): string[] {
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const stale: string[] = [];
      for (const o of objects) {
        const row = this.sql.exec<{ expires_at: number }>("SELECT expires_at FROM staging WHERE key = ?", o.key).toArray()[0];
        if (row ? row.expires_at <= now : o.uploaded <= now - graceMs) stale.push(o.key);
      }
      this.sql.exec("DELETE FROM staging WHERE expires_at <= ?", now);
      return stale;
    });
  }

  /** The live leases (for tests and operators). */
  leases(): { key: string; expires_at: number }[] {
    return this.sql.exec<{ key: string; expires_at: number }>("SELECT key, expires_at FROM staging ORDER BY key").toArray();
  }
}

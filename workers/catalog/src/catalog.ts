// The Catalog Durable Object: every dataset's manifests and versions in SQLite.
// One instance ("catalog") serialises every change, so concurrent registrations of one
// dataset never lose a version: each method below runs synchronously from read to
// write (no await in between), inside one storage transaction.
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

export interface RemoveResult {
  manifest: Manifest;
  /** Every object key any version referenced. */
  keys: string[];
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

  register(input: RegisterInput): RegisterResult | RegisterConflict {
    return this.ctx.storage.transactionSync(() => {
      const cur = this.current(input.name);
      if (cur && cur.schema_fingerprint !== input.schema_fingerprint) {
        // Returned, not thrown: a LakehouseError does not keep its code across the RPC boundary.
        return { conflict: { existing_fingerprint: cur.schema_fingerprint, existing_schema: cur.schema } };
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

  /** Deletes the dataset and all its versions; returns the keys of every object they referenced. */
  remove(name: string): RemoveResult | null {
    return this.ctx.storage.transactionSync(() => {
      const cur = this.current(name);
      if (!cur) return null;
      const keys = new Set<string>();
      for (const r of this.sql.exec<{ manifest: string }>("SELECT manifest FROM versions WHERE name = ?", name).toArray()) {
        for (const o of (JSON.parse(r.manifest) as Manifest).objects) keys.add(o.key);
      }
      this.sql.exec("DELETE FROM versions WHERE name = ?", name);
      this.sql.exec("DELETE FROM datasets WHERE name = ?", name);
      return { manifest: cur, keys: [...keys] };
    });
  }
}

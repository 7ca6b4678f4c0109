// The Catalog Durable Object: every dataset's versions, files and Iceberg snapshots in SQLite.
// One instance ("catalog") holds them all. Commits of one dataset are serialised by a lock per
// name (they write Iceberg metadata to R2 between their check and their SQL commit); the SQL
// commit itself is one synchronous transaction, the atomic point of every change.
//
// Storage is linear in files (migrations/catalog/0003): each object is one `files` row with the
// span of versions that list it, each Iceberg manifest one `iceberg_manifests` row, each version
// one small `versions` row; a version's objects are the files live at it.
// Rules it enforces (docs/storage-layout.md): a key listed by another dataset is refused; an
// append adds new keys only; a name equal to another but for case is a 409; a removed key is
// never listed again; a deletion removes only keys no other dataset lists; snapshots past
// [catalogd].retain_versions / retain_days expire and only files (and Iceberg metadata) no kept
// snapshot lists are deleted. It also holds the leases of staged ingest uploads (`staging`).
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/catalog/index";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { logger } from "../../../shared/log";
import { applyMigrations } from "../../../shared/migrations";
import type {
  DatasetDelta,
  DatasetSummary,
  Manifest,
  ManifestObject,
  SchemaField,
} from "../../../shared/types";
import { type FileState, type ManifestRecordRow, type SnapshotRow, writeSnapshot } from "./iceberg";
import { type OrphanSweepOptions, type OrphanSweepResult, sweepOrphans } from "./orphan-sweep";

export interface RegisterInput {
  name: string;
  dataset_id: string;
  schema: SchemaField[];
  schema_fingerprint: string;
  objects: ManifestObject[];
  /**
   * replace (default): the objects are the new version's objects; append: added to the current
   * ones; rewrite (compaction): `remove` leaves and `objects` (the same rows) come in.
   */
  mode: "replace" | "append" | "rewrite";
  /** rewrite only: the keys the new objects replace (all must be live). */
  remove?: string[];
  now: string;
}

export interface RegisterResult {
  manifest: Manifest;
  /** false when nothing changed (identical objects): no new version was made. */
  changed: boolean;
  /** Objects the commit made unreferenced (expired snapshots' files and metadata): the caller deletes them. */
  expired: string[];
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
  /** The keys the dataset owned (data files and Iceberg metadata) that no other dataset lists: safe to delete. */
  keys: string[];
}

/** A staged object seen in a listing, for the sweep. */
export interface StagedObject {
  key: string;
  /** Upload time, epoch milliseconds. */
  uploaded: number;
}

export interface CatalogStats {
  datasets: number;
  versions: number;
  files: number;
  manifests: number;
  /** bytes of the object's SQLite database */
  database_bytes: number;
}

interface DatasetRow extends Record<string, SqlStorageValue> {
  name: string;
  dataset_id: string;
  schema_fingerprint: string;
  current_version: number;
  row_count: number;
  bytes: number;
  file_count: number;
  created_at: string;
  updated_at: string;
  table_uuid: string | null;
  metadata_key: string | null;
}

interface VersionRow extends Record<string, SqlStorageValue> {
  name: string;
  version: number;
  schema: string;
  schema_fingerprint: string;
  row_count: number;
  bytes: number;
  file_count: number;
  operation: string;
  created_at: string;
  created_ms: number;
  manifest_list: string | null;
  metadata_key: string | null;
  summary: string | null;
  /** the version current when this one was made (its Iceberg parent), kept after that one expires */
  parent_version: number | null;
}

interface FileRow extends Record<string, SqlStorageValue> {
  name: string;
  key: string;
  size: number;
  row_count: number;
  content_sha256: string | null;
  added_version: number;
  removed_version: number | null;
  ord: number;
  manifest: string | null;
  data_file: string | null;
}

function toObject(f: FileRow): ManifestObject {
  return {
    key: f.key,
    size: f.size,
    row_count: f.row_count,
    ...(f.content_sha256 ? { content_sha256: f.content_sha256 } : {}),
  };
}

/** Two objects are the same content when both carry a content hash and it matches, else when the keys match. */
function sameObject(a: ManifestObject, b: ManifestObject): boolean {
  if (a.content_sha256 && b.content_sha256) return a.content_sha256 === b.content_sha256;
  return a.key === b.key;
}

export class Catalog extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** commits in flight, by dataset name: a commit of a name waits for the previous one */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
    });
  }

  private async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    }
  }

  private dataset(name: string): DatasetRow | undefined {
    return this.sql.exec<DatasetRow>("SELECT * FROM datasets WHERE name = ?", name).toArray()[0];
  }

  private version(name: string, version: number): VersionRow | undefined {
    return this.sql
      .exec<VersionRow>("SELECT * FROM versions WHERE name = ? AND version = ?", name, version)
      .toArray()[0];
  }

  /** The files live at `version`, in load order. */
  private filesAt(name: string, version: number): FileRow[] {
    return this.sql
      .exec<FileRow>(
        "SELECT * FROM files WHERE name = ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY ord, key",
        name,
        version,
        version,
      )
      .toArray();
  }

  private manifestOf(d: DatasetRow, v: VersionRow): Manifest {
    const objects = this.filesAt(d.name, v.version).map(toObject);
    return {
      dataset_id: d.dataset_id,
      name: d.name,
      schema: JSON.parse(v.schema) as SchemaField[],
      schema_fingerprint: v.schema_fingerprint,
      objects,
      row_count: v.row_count,
      version: v.version,
      created_at: d.created_at,
      updated_at: v.created_at,
    };
  }

  private current(name: string): Manifest | undefined {
    const d = this.dataset(name);
    if (!d) return undefined;
    const v = this.version(name, d.current_version);
    return v ? this.manifestOf(d, v) : undefined;
  }

  /** Registers a version (ingest), or a compaction's rewrite. Serialised per dataset name. */
  async register(
    input: RegisterInput,
  ): Promise<RegisterResult | RegisterConflict | RegisterRejected> {
    return this.withLock(input.name, () => this.commit(input));
  }

  private async commit(
    input: RegisterInput,
  ): Promise<RegisterResult | RegisterConflict | RegisterRejected> {
    const config = lakehouseConfig(this.env);
    const d = this.dataset(input.name);
    if (!d) {
      // SQL table names are case-insensitive: `Foo` and `foo` would read each other's data.
      const other = this.sql
        .exec<{ name: string }>(
          "SELECT name FROM datasets WHERE name = ? COLLATE NOCASE AND name <> ?",
          input.name,
          input.name,
        )
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
    if (d && d.schema_fingerprint !== input.schema_fingerprint) {
      // Returned, not thrown: a LakehouseError does not keep its code across the RPC boundary.
      const cur = this.version(d.name, d.current_version)!;
      return {
        conflict: {
          existing_fingerprint: d.schema_fingerprint,
          existing_schema: JSON.parse(cur.schema) as SchemaField[],
        },
      };
    }
    const live = d ? this.filesAt(input.name, d.current_version) : [];
    const liveKeys = new Map(live.map((f) => [f.key, f]));
    for (const [i, o] of input.objects.entries()) {
      const owner = this.sql
        .exec<{ name: string }>(
          "SELECT name FROM files WHERE key = ? AND name <> ? LIMIT 1",
          o.key,
          input.name,
        )
        .toArray()[0];
      if (owner) {
        return {
          rejected: {
            code: "bad_request",
            message: `body.objects[${i}].key: object ${JSON.stringify(o.key)} is listed by another dataset (${JSON.stringify(owner.name)})`,
          },
        };
      }
      if (input.mode !== "replace" && liveKeys.has(o.key)) {
        return {
          rejected: {
            code: "bad_request",
            message: `body.objects[${i}].key: object ${JSON.stringify(o.key)} is already listed by the current version (${d!.current_version}) of ${JSON.stringify(input.name)}; an append adds new objects only`,
          },
        };
      }
      if (!liveKeys.has(o.key)) {
        const earlier = this.sql
          .exec<{ removed_version: number }>(
            "SELECT removed_version FROM files WHERE name = ? AND key = ?",
            input.name,
            o.key,
          )
          .toArray()[0];
        if (earlier) {
          return {
            rejected: {
              code: "bad_request",
              message: `body.objects[${i}].key: object ${JSON.stringify(o.key)} was removed from ${JSON.stringify(input.name)} at version ${earlier.removed_version}; a removed object is never listed again`,
            },
          };
        }
      }
    }

    // What leaves and what comes.
    let removed: FileRow[];
    let added: ManifestObject[];
    if (input.mode === "append") {
      removed = [];
      added = input.objects.filter((o) => !live.some((c) => sameObject(toObject(c), o)));
    } else if (input.mode === "rewrite") {
      const gone = new Set(input.remove ?? []);
      const missing = [...gone].filter((k) => !liveKeys.has(k));
      if (!d || missing.length) {
        return {
          rejected: {
            code: "conflict",
            message: `compaction of ${JSON.stringify(input.name)}: object(s) ${missing.join(", ")} are no longer in the current version; nothing was changed`,
          },
        };
      }
      removed = live.filter((f) => gone.has(f.key));
      added = input.objects;
      const before = removed.reduce((s, f) => s + f.row_count, 0);
      const after = added.reduce((s, o) => s + o.row_count, 0);
      if (before !== after)
        return {
          rejected: {
            code: "bad_request",
            message: `compaction of ${JSON.stringify(input.name)}: ${after} rows written for ${before} removed`,
          },
        };
    } else {
      const incoming = new Set(input.objects.map((o) => o.key));
      const same =
        live.length === input.objects.length &&
        live.every((f, i) => sameObject(toObject(f), input.objects[i]!));
      if (same) return { manifest: this.current(input.name)!, changed: false, expired: [] };
      removed = live.filter((f) => !incoming.has(f.key));
      added = input.objects.filter((o) => !liveKeys.has(o.key));
    }
    if (d && removed.length === 0 && added.length === 0)
      return { manifest: this.current(input.name)!, changed: false, expired: [] };

    const counter = this.sql
      .exec<{ last_version: number }>(
        "SELECT last_version FROM version_counters WHERE name = ?",
        input.name,
      )
      .toArray()[0];
    const version = (counter?.last_version ?? 0) + 1;
    const prev = d ? this.version(d.name, d.current_version) : undefined;
    // The schema's nullability is the union over the dataset's objects (append may add nulls).
    const prevSchema = prev ? (JSON.parse(prev.schema) as SchemaField[]) : [];
    const schema = input.schema.map((f, i) => ({
      ...f,
      nullable: f.nullable || (input.mode !== "replace" && !!prevSchema[i]?.nullable),
    }));
    const removedKeys = new Set(removed.map((f) => f.key));
    const kept = live.filter((f) => !removedKeys.has(f.key));
    const nowMs = Date.parse(input.now) || Date.now();
    // Iceberg's operations: only files added → append; files rewritten with the same rows → replace; else overwrite
    const operation =
      input.mode === "rewrite" ? "replace" : removed.length === 0 ? "append" : "overwrite";
    const maxOrd =
      this.sql
        .exec<{ m: number | null }>("SELECT MAX(ord) AS m FROM files WHERE name = ?", input.name)
        .one().m ?? 0;
    const firstOrd = input.mode === "rewrite" ? Math.min(...removed.map((f) => f.ord)) : maxOrd + 1;
    const rowCount =
      kept.reduce((s, f) => s + f.row_count, 0) + added.reduce((s, o) => s + o.row_count, 0);
    const bytes = kept.reduce((s, f) => s + f.size, 0) + added.reduce((s, o) => s + o.size, 0);

    // Retention: the snapshots kept once this one is made.
    const retained = this.retainedFrom(
      input.name,
      version,
      nowMs,
      config.catalogd.retain_versions,
      config.catalogd.retain_days,
    );

    // Iceberg: manifests, manifest list and table metadata in R2, before the SQL commit.
    const tableUuid = d?.table_uuid ?? crypto.randomUUID();
    const snapshot = await writeSnapshot(this.env, {
      name: input.name,
      schema,
      tableUuid,
      version,
      // the snapshot this one follows, named for life even once it expires (snapshots are immutable)
      parent: d ? d.current_version : null,
      nowMs,
      operation,
      kept: kept.map(fileState),
      removed: removed.map(fileState),
      added: added.map((o) => ({ key: o.key, size: o.size, row_count: o.row_count })),
      manifests: this.liveManifests(input.name),
      history: this.snapshots(input.name, retained),
      metadataLog: this.metadataLog(input.name, retained),
    });

    let expired: string[] = [];
    try {
      this.ctx.storage.transactionSync(() => {
        const sql = this.sql;
        sql.exec(
          "INSERT INTO version_counters (name, last_version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
          input.name,
          version,
        );
        sql.exec(
          `INSERT INTO versions (name, version, schema, schema_fingerprint, row_count, bytes, file_count, operation, created_at, created_ms, manifest_list, metadata_key, summary, parent_version)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          input.name,
          version,
          JSON.stringify(schema),
          input.schema_fingerprint,
          rowCount,
          bytes,
          kept.length + added.length,
          operation,
          input.now,
          nowMs,
          snapshot.manifestList,
          snapshot.metadataKey,
          JSON.stringify(snapshot.summary),
          d ? d.current_version : null,
        );
        for (const f of removed)
          sql.exec(
            "UPDATE files SET removed_version = ? WHERE name = ? AND key = ?",
            version,
            input.name,
            f.key,
          );
        for (const [i, o] of added.entries()) {
          sql.exec(
            "INSERT INTO files (name, key, size, row_count, content_sha256, added_version, removed_version, ord, manifest, data_file) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            input.name,
            o.key,
            o.size,
            o.row_count,
            o.content_sha256 ?? null,
            version,
            firstOrd + i * (input.mode === "rewrite" ? 0 : 1),
            snapshot.fileManifest.get(o.key) ?? null,
            snapshot.dataFiles.get(o.key) ?? null,
          );
        }
        // Kept files whose manifest was rewritten (or that had none) now live in another manifest.
        for (const f of kept) {
          const m = snapshot.fileManifest.get(f.key);
          const df = snapshot.dataFiles.get(f.key);
          if (m && m !== f.manifest)
            sql.exec(
              "UPDATE files SET manifest = ?, data_file = COALESCE(?, data_file) WHERE name = ? AND key = ?",
              m,
              df ?? null,
              input.name,
              f.key,
            );
        }
        for (const path of snapshot.droppedManifests)
          sql.exec(
            "UPDATE iceberg_manifests SET removed_version = ? WHERE name = ? AND path = ?",
            version,
            input.name,
            path,
          );
        for (const m of snapshot.newManifests) {
          sql.exec(
            "INSERT INTO iceberg_manifests (name, path, added_version, removed_version, record) VALUES (?, ?, ?, NULL, ?)",
            input.name,
            m.path,
            version,
            JSON.stringify(m.record),
          );
        }
        sql.exec(
          `INSERT INTO datasets (name, dataset_id, schema_fingerprint, current_version, row_count, created_at, updated_at, bytes, file_count, table_uuid, metadata_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET current_version = excluded.current_version, row_count = excluded.row_count, updated_at = excluded.updated_at,
             bytes = excluded.bytes, file_count = excluded.file_count, table_uuid = excluded.table_uuid, metadata_key = excluded.metadata_key`,
          input.name,
          input.dataset_id,
          input.schema_fingerprint,
          version,
          rowCount,
          d?.created_at ?? input.now,
          input.now,
          bytes,
          kept.length + added.length,
          tableUuid,
          snapshot.metadataKey,
        );
        expired = this.expire(input.name, retained);
      });
    } catch (err) {
      // Nothing was committed: the metadata just written is unreferenced.
      await this.deleteObjects(snapshot.written);
      throw err;
    }
    return { manifest: this.current(input.name)!, changed: true, expired };
  }

  /** The oldest version kept once `newest` exists: the newest `retainVersions`, and any younger than `retainDays`. */
  private retainedFrom(
    name: string,
    newest: number,
    nowMs: number,
    retainVersions: number,
    retainDays: number,
  ): number {
    const byCount = this.sql
      .exec<{ version: number }>(
        "SELECT version FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1 OFFSET ?",
        name,
        Math.max(0, retainVersions - 2),
      )
      .toArray()[0]?.version;
    // the new version counts as one of the retained ones
    let oldest =
      retainVersions <= 1
        ? newest
        : (byCount ??
          this.sql
            .exec<{ v: number | null }>(
              "SELECT MIN(version) AS v FROM versions WHERE name = ?",
              name,
            )
            .one().v ??
          newest);
    const young = this.sql
      .exec<{ v: number | null }>(
        "SELECT MIN(version) AS v FROM versions WHERE name = ? AND created_ms >= ?",
        name,
        nowMs - retainDays * 86_400_000,
      )
      .one().v;
    if (young !== null && young < oldest) oldest = young;
    return oldest;
  }

  /**
   * Drops versions older than `oldest` with the files and manifests only they listed (inside the
   * caller's transaction); returns the storage keys no kept snapshot lists any more.
   */
  private expire(name: string, oldest: number): string[] {
    const sql = this.sql;
    const keys: string[] = [];
    for (const v of sql
      .exec<{ manifest_list: string | null; metadata_key: string | null }>(
        "SELECT manifest_list, metadata_key FROM versions WHERE name = ? AND version < ?",
        name,
        oldest,
      )
      .toArray()) {
      if (v.manifest_list) keys.push(v.manifest_list);
      if (v.metadata_key) keys.push(v.metadata_key);
    }
    const files = sql
      .exec<{ key: string }>(
        "SELECT key FROM files WHERE name = ? AND removed_version IS NOT NULL AND removed_version <= ?",
        name,
        oldest,
      )
      .toArray()
      .map((r) => r.key);
    const manifests = sql
      .exec<{ path: string }>(
        "SELECT path FROM iceberg_manifests WHERE name = ? AND removed_version IS NOT NULL AND removed_version <= ?",
        name,
        oldest,
      )
      .toArray()
      .map((r) => r.path);
    sql.exec("DELETE FROM versions WHERE name = ? AND version < ?", name, oldest);
    sql.exec(
      "DELETE FROM files WHERE name = ? AND removed_version IS NOT NULL AND removed_version <= ?",
      name,
      oldest,
    );
    sql.exec(
      "DELETE FROM iceberg_manifests WHERE name = ? AND removed_version IS NOT NULL AND removed_version <= ?",
      name,
      oldest,
    );
    return [...keys, ...manifests, ...this.unreferenced(name, files)];
  }

  private liveManifests(name: string): ManifestRecordRow[] {
    return this.sql
      .exec<{ path: string; added_version: number; record: string }>(
        "SELECT path, added_version, record FROM iceberg_manifests WHERE name = ? AND removed_version IS NULL ORDER BY added_version, path",
        name,
      )
      .toArray()
      .map((r) => ({
        path: r.path,
        added_version: r.added_version,
        record: JSON.parse(r.record) as Record<string, unknown>,
      }));
  }

  /** The Iceberg snapshots of the versions kept (from `oldest`), oldest first. */
  private snapshots(name: string, oldest: number): SnapshotRow[] {
    return this.sql
      .exec<VersionRow>(
        "SELECT * FROM versions WHERE name = ? AND version >= ? AND manifest_list IS NOT NULL ORDER BY version",
        name,
        oldest,
      )
      .toArray()
      .map((v) => ({
        version: v.version,
        parent: v.parent_version,
        created_ms: v.created_ms,
        manifest_list: v.manifest_list!,
        summary: JSON.parse(v.summary ?? "{}") as Record<string, string>,
      }));
  }

  private metadataLog(name: string, oldest: number): { timestamp_ms: number; key: string }[] {
    return this.sql
      .exec<{ created_ms: number; metadata_key: string }>(
        "SELECT created_ms, metadata_key FROM versions WHERE name = ? AND version >= ? AND metadata_key IS NOT NULL ORDER BY version",
        name,
        oldest,
      )
      .toArray()
      .map((r) => ({ timestamp_ms: r.created_ms, key: r.metadata_key }));
  }

  private async deleteObjects(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      try {
        await this.env.LAKE.delete(keys.slice(i, i + 1000));
      } catch (err) {
        logger(this.env, "catalog").warn(
          `deleting ${keys.length} unreferenced Iceberg object(s) failed: ${(err as Error).message}`,
        );
      }
    }
  }

  manifest(name: string, version?: number): Manifest | null {
    const d = this.dataset(name);
    if (!d) return null; // versions of a deleted dataset are gone with it
    const v = this.version(name, version ?? d.current_version);
    return v ? this.manifestOf(d, v) : null;
  }

  history(name: string, limit: number): Manifest[] | null {
    const d = this.dataset(name);
    if (!d) return null;
    return this.sql
      .exec<VersionRow>(
        "SELECT * FROM versions WHERE name = ? ORDER BY version DESC LIMIT ?",
        name,
        limit,
      )
      .toArray()
      .map((v) => this.manifestOf(d, v));
  }

  /** What `to` adds over `from` (both kept versions of `name`), or null when either is unknown. */
  delta(name: string, from: number, to: number): DatasetDelta | null {
    const d = this.dataset(name);
    const vFrom = this.version(name, from);
    const vTo = this.version(name, to);
    if (!d || !vFrom || !vTo || from > to) return null;
    const gone = this.sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM files WHERE name = ? AND added_version <= ? AND removed_version IS NOT NULL AND removed_version > ? AND removed_version <= ?",
        name,
        from,
        from,
        to,
      )
      .one().n;
    const added = this.sql
      .exec<FileRow>(
        "SELECT * FROM files WHERE name = ? AND added_version > ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY ord, key",
        name,
        from,
        to,
        to,
      )
      .toArray()
      .map(toObject);
    return {
      name,
      from,
      to,
      append_only: gone === 0 && vFrom.schema_fingerprint === vTo.schema_fingerprint,
      added,
      schema: JSON.parse(vTo.schema) as SchemaField[],
      row_count: vTo.row_count,
    };
  }

  list(): DatasetSummary[] {
    return this.sql
      .exec<DatasetRow>("SELECT * FROM datasets ORDER BY name")
      .toArray()
      .map((r) => ({
        dataset_id: r.dataset_id,
        name: r.name,
        schema_fingerprint: r.schema_fingerprint,
        row_count: r.row_count,
        bytes: r.bytes,
        version: r.current_version,
        updated_at: r.updated_at,
      }));
  }

  /** The Iceberg view of a dataset: its table metadata key and the current snapshot (REST catalog). */
  table(
    name: string,
  ): { metadata_key: string | null; version: number; table_uuid: string | null } | null {
    const d = this.dataset(name);
    return d
      ? { metadata_key: d.metadata_key, version: d.current_version, table_uuid: d.table_uuid }
      : null;
  }

  /** The datasets whose current snapshot has more than `minFiles` files under `smallRows` rows. */
  compactionCandidates(minFiles: number, smallRows: number): string[] {
    return this.sql
      .exec<{ name: string }>(
        "SELECT name FROM files WHERE removed_version IS NULL AND row_count < ? GROUP BY name HAVING COUNT(*) > ? ORDER BY name",
        smallRows,
        minFiles,
      )
      .toArray()
      .map((r) => r.name);
  }

  stats(): CatalogStats {
    const count = (table: string) =>
      this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
    return {
      datasets: count("datasets"),
      versions: count("versions"),
      files: count("files"),
      manifests: count("iceberg_manifests"),
      database_bytes: this.ctx.storage.sql.databaseSize,
    };
  }

  /**
   * Expires what retention no longer keeps (the cron: a dataset that stopped changing still
   * ages past retain_days), writing new table metadata without the expired snapshots; and gives a
   * dataset registered before Iceberg its first snapshot. Returns the keys to delete.
   */
  async maintain(name: string): Promise<string[]> {
    return this.withLock(name, async () => {
      const config = lakehouseConfig(this.env).catalogd;
      const d = this.dataset(name);
      if (!d) return [];
      const cur = this.version(name, d.current_version)!;
      const nowMs = Date.now();
      const oldest = this.retainedFrom(
        name,
        d.current_version + 1,
        nowMs,
        config.retain_versions + 1,
        config.retain_days,
      );
      const hasOld =
        this.sql
          .exec<{ n: number }>(
            "SELECT COUNT(*) AS n FROM versions WHERE name = ? AND version < ?",
            name,
            oldest,
          )
          .one().n > 0;
      if (!hasOld && cur.manifest_list && d.metadata_key) return [];
      const live = this.filesAt(name, d.current_version);
      const snapshot = await writeSnapshot(this.env, {
        name,
        schema: JSON.parse(cur.schema) as SchemaField[],
        tableUuid: d.table_uuid ?? crypto.randomUUID(),
        version: d.current_version,
        parent: cur.parent_version,
        nowMs: cur.created_ms,
        operation: cur.manifest_list ? "metadata" : "append",
        kept: live.map(fileState),
        removed: [],
        added: [],
        manifests: this.liveManifests(name),
        history: this.snapshots(name, oldest),
        // the current version's own metadata file is superseded by this one (deleted below)
        metadataLog: this.metadataLog(name, oldest).filter((m) => m.key !== cur.metadata_key),
        reuseManifestList: cur.manifest_list ?? undefined,
      });
      let keys: string[] = [];
      try {
        this.ctx.storage.transactionSync(() => {
          const sql = this.sql;
          for (const f of live) {
            const m = snapshot.fileManifest.get(f.key);
            if (m && m !== f.manifest)
              sql.exec(
                "UPDATE files SET manifest = ?, data_file = COALESCE(?, data_file) WHERE name = ? AND key = ?",
                m,
                snapshot.dataFiles.get(f.key) ?? null,
                name,
                f.key,
              );
          }
          for (const m of snapshot.newManifests) {
            sql.exec(
              "INSERT INTO iceberg_manifests (name, path, added_version, removed_version, record) VALUES (?, ?, ?, NULL, ?)",
              name,
              m.path,
              d.current_version,
              JSON.stringify(m.record),
            );
          }
          sql.exec(
            "UPDATE versions SET manifest_list = ?, metadata_key = ?, summary = ? WHERE name = ? AND version = ?",
            snapshot.manifestList,
            snapshot.metadataKey,
            JSON.stringify(snapshot.summary),
            name,
            d.current_version,
          );
          sql.exec(
            "UPDATE datasets SET metadata_key = ?, table_uuid = COALESCE(table_uuid, ?) WHERE name = ?",
            snapshot.metadataKey,
            crypto.randomUUID(),
            name,
          );
          keys = this.expire(name, oldest);
          // the current version's earlier metadata file is superseded by this one
          if (cur.metadata_key && cur.metadata_key !== snapshot.metadataKey)
            keys.push(cur.metadata_key);
          if (cur.manifest_list && cur.manifest_list !== snapshot.manifestList)
            keys.push(cur.manifest_list);
        });
      } catch (err) {
        await this.deleteObjects(snapshot.written);
        throw err;
      }
      return keys;
    });
  }

  /**
   * Deletes the dataset and all its versions; returns the keys it owned (data files, Iceberg
   * manifests, manifest lists, metadata) that no other dataset lists.
   */
  async remove(name: string): Promise<RemoveResult | null> {
    return this.withLock(name, async () =>
      this.ctx.storage.transactionSync(() => {
        const cur = this.current(name);
        if (!cur) return null;
        const files = this.sql
          .exec<{ key: string }>("SELECT key FROM files WHERE name = ?", name)
          .toArray()
          .map((r) => r.key);
        const meta: string[] = [];
        for (const v of this.sql.exec<{
          manifest_list: string | null;
          metadata_key: string | null;
        }>("SELECT manifest_list, metadata_key FROM versions WHERE name = ?", name)) {
          if (v.manifest_list) meta.push(v.manifest_list);
          if (v.metadata_key) meta.push(v.metadata_key);
        }
        const d = this.dataset(name);
        if (d?.metadata_key) meta.push(d.metadata_key);
        for (const m of this.sql.exec<{ path: string }>(
          "SELECT path FROM iceberg_manifests WHERE name = ?",
          name,
        ))
          meta.push(m.path);
        this.sql.exec("DELETE FROM files WHERE name = ?", name);
        this.sql.exec("DELETE FROM iceberg_manifests WHERE name = ?", name);
        this.sql.exec("DELETE FROM versions WHERE name = ?", name);
        this.sql.exec("DELETE FROM datasets WHERE name = ?", name);
        return { manifest: cur, keys: [...new Set([...this.unreferenced(name, files), ...meta])] };
      }),
    );
  }

  /** The keys among `candidates` that no other dataset lists (a pre-#12 forgery may list another's key). */
  private unreferenced(name: string, candidates: string[]): string[] {
    return candidates.filter(
      (k) =>
        this.sql.exec("SELECT 1 FROM files WHERE key = ? AND name <> ? LIMIT 1", k, name).toArray()
          .length === 0,
    );
  }

  /**
   * Deletes objects under the dataset prefix that no row lists, older than the grace, a bounded
   * slice per call (orphan-sweep.ts); each dataset's deletes happen under its commit lock.
   */
  async sweepOrphans(opts: OrphanSweepOptions): Promise<OrphanSweepResult> {
    return sweepOrphans(
      { sql: this.sql, lake: this.env.LAKE, withLock: (name, fn) => this.withLock(name, fn) },
      opts,
    );
  }

  // ---- leases of staged ingest uploads ----

  /** Records or renews the lease of a staged key until now + leaseMs; returns the expiry. */
  lease(key: string, leaseMs: number): number {
    const expires = Date.now() + leaseMs;
    this.sql.exec(
      "INSERT INTO staging (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at",
      key,
      expires,
    );
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
        const row = this.sql
          .exec<{ expires_at: number }>("SELECT expires_at FROM staging WHERE key = ?", o.key)
          .toArray()[0];
        if (row ? row.expires_at <= now : o.uploaded <= now - graceMs) stale.push(o.key);
      }
      this.sql.exec("DELETE FROM staging WHERE expires_at <= ?", now);
      return stale;
    });
  }

  /** The live leases (for tests and operators). */
  leases(): { key: string; expires_at: number }[] {
    return this.sql
      .exec<{ key: string; expires_at: number }>("SELECT key, expires_at FROM staging ORDER BY key")
      .toArray();
  }
}

function fileState(f: FileRow): FileState {
  return {
    key: f.key,
    size: f.size,
    row_count: f.row_count,
    added_version: f.added_version,
    manifest: f.manifest,
    data_file: f.data_file,
  };
}

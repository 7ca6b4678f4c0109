// Loading dataset versions into a replica's SQLite: a newer version that only appends objects (the
// catalog's delta says so) loads just those objects into a staging table and merges them in, in
// one transaction, once no running query reads the table (past mergeWaitMs the table is copied with
// the new rows instead, and the running queries finish on the old one); any other version loads in
// full into a fresh table that is swapped in, the old one dropped once nothing reads it.
// Rules: one load per dataset at a time (concurrent queries wait for the same load) and it belongs
// to the object, not to the call that started it; an append is trusted only when its schema and
// row counts agree with the held table, else the version loads in full; a version that cannot be
// loaded fails only the queries that read it (422 dataset_unloadable, kept FAILED_LOAD_TTL_MS).
import { serviceClient } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";
import type { DatasetDelta, Manifest, SchemaField } from "../../../shared/types";
import { unloadableError } from "./engine-errors";
import type { HeldTables } from "./engine-tables";
import {
  type LoadOptions,
  newPhysical,
  PHYSICAL,
  TABLE_COLUMNS,
  type TableRow,
  tick,
} from "./engine-types";
import { createTable, loadDataset, quoteIdent } from "./loader";

/** An unloadable dataset version is not retried by every query: its error is kept this long. */
const FAILED_LOAD_TTL_MS = 60_000;
/** Rows per step when a merge copies a table that running queries still read. */
const COPY_CHUNK_ROWS = 20_000;

function sameColumns(a: SchemaField[], b: SchemaField[]): boolean {
  return a.length === b.length && a.every((f, i) => f.name === b[i]!.name && f.type === b[i]!.type);
}

export class DatasetLoads {
  /** recent load failures by `name@version`: the error and when it happened */
  private readonly failed = new Map<string, { error: LakehouseError; at: number }>();
  private readonly counters = { full: 0, incremental: 0, copied: 0, full_after_delta: 0 };

  constructor(
    private readonly held: HeldTables,
    private readonly storage: DurableObjectStorage,
    private readonly env: Env,
    /** keeps the object alive until a load ends, whoever awaits it */
    private readonly waitUntil: (promise: Promise<unknown>) => void,
  ) {}

  /** Loads by kind since the replica started (EngineStats.loads). */
  counts(): { full: number; incremental: number; copied: number; full_after_delta: number } {
    return { ...this.counters };
  }

  /** Makes sure `name` is loaded at `version` or newer (catalog versions of a name never repeat or go back). */
  async ensure(name: string, version: number, opts: LoadOptions): Promise<boolean> {
    for (;;) {
      const current = this.held.all().get(name);
      if (current && current.version >= version) return false;
      const inflight = this.held.inflight(name);
      if (!inflight) break;
      await inflight.catch(() => undefined);
    }
    const key = `${name}@${version}`;
    const failure = this.failed.get(key);
    if (failure && Date.now() - failure.at < FAILED_LOAD_TTL_MS) throw failure.error;
    const load = this.load(name, version, opts)
      .catch((err: unknown) => {
        const error =
          err instanceof LakehouseError
            ? err
            : unloadableError(name, version, err instanceof Error ? err.message : String(err));
        if (error.code === "dataset_unloadable") this.failed.set(key, { error, at: Date.now() });
        throw error;
      })
      .finally(() => this.held.loadEnded(name));
    this.held.loadStarted(name, load);
    // The load belongs to the object, not to the call that started it: a caller that goes away
    // (a notification nobody awaits) does not end it, and later queries of the dataset wait for it.
    this.waitUntil(load.catch(() => undefined));
    await load;
    return true;
  }

  private loadFailure(name: string, version: number, err: unknown): LakehouseError {
    if (err instanceof LakehouseError) return err;
    const message = (err instanceof Error ? err.message : String(err))
      .replace(/: SQLITE_[A-Z_]+$/, "")
      .replace(PHYSICAL, name);
    return unloadableError(name, version, message);
  }

  private async load(name: string, version: number, opts: LoadOptions): Promise<void> {
    if (/^(_lh_|sqlite_|_cf_)/i.test(name)) {
      throw new LakehouseError(
        "bad_request",
        `dataset name ${JSON.stringify(name)} is reserved by the query engine and cannot be queried`,
      );
    }
    const held = this.held.all().get(name);
    if (held && held.version < version) {
      const delta = await this.delta(name, held.version, version);
      if (delta && (await this.append(name, held, delta, opts))) return;
      this.counters.full_after_delta++;
    }
    await this.fullLoad(name, version, opts);
  }

  /** The catalog's delta from the held version, when it is a usable append; null otherwise (not append-only, 404 from an older catalog, any failure). */
  private async delta(name: string, from: number, to: number): Promise<DatasetDelta | null> {
    try {
      const d = await serviceClient(this.env as never, "catalog").json<DatasetDelta>(
        `/delta/${encodeURIComponent(name)}?from=${from}&to=${to}`,
      );
      const usable =
        d &&
        d.append_only === true &&
        d.name === name &&
        d.from === from &&
        d.to === to &&
        Array.isArray(d.added) &&
        Array.isArray(d.schema) &&
        typeof d.row_count === "number";
      return usable ? d : null;
    } catch {
      return null;
    }
  }

  /**
   * An append: loads only the delta's new objects into a staging table, then merges it into
   * the dataset's table in one synchronous transaction — once no running query of this
   * replica reads that table (a query iterating over it must not see half an append), for at
   * most `mergeWaitMs`; past that, the table is copied (in steps, yielding) with the new rows
   * into a fresh table that is swapped in, and the running queries finish on the old one.
   * False when the append cannot be trusted (schema or row counts disagree, the held table
   * changed meanwhile): the caller loads in full.
   */
  private async append(
    name: string,
    held: TableRow,
    delta: DatasetDelta,
    opts: LoadOptions,
  ): Promise<boolean> {
    const sql = this.storage.sql;
    if (!sameColumns(JSON.parse(held.schema) as SchemaField[], delta.schema)) return false;
    const declared = delta.added.reduce((n, o) => n + o.row_count, 0);
    if (held.row_count + declared !== delta.row_count) return false;
    const started = Date.now();
    let stage: string | null = null;
    let rows = 0;
    let bytes = 0;
    if (delta.added.length > 0) {
      const perRow = held.row_count > 0 ? held.bytes / held.row_count : 0;
      const estimate =
        perRow > 0 ? Math.ceil(perRow * declared) : delta.added.reduce((n, o) => n + o.size, 0);
      this.held.evict(opts.budget, estimate, new Set([...opts.protect, name]));
      stage = newPhysical();
      try {
        const stats = await loadDataset(
          sql,
          this.env.LAKE,
          { name, schema: delta.schema, objects: delta.added },
          stage,
        );
        rows = stats.rows;
        bytes = stats.bytes;
      } catch (err) {
        this.held.discard(stage);
        throw this.loadFailure(name, delta.to, err);
      }
      if (held.row_count + rows !== delta.row_count) {
        this.held.discard(stage);
        return false;
      }
    }
    const stillHeld = () => {
      const c = this.held.all().get(name);
      return !!c && c.physical === held.physical && c.version === held.version;
    };
    const target = quoteIdent(held.physical);
    const cols = delta.schema.map((f) => quoteIdent(f.name)).join(", ");
    const until = Date.now() + opts.mergeWaitMs;
    while (stage && this.held.isRead(held.physical) && Date.now() < until)
      await this.held.released(held.physical, until - Date.now());
    if (!stillHeld()) {
      if (stage) this.held.discard(stage);
      return false;
    }
    let merged = false;
    if (!stage || !this.held.isRead(held.physical)) {
      // nothing reads the table: the merge, the stage's drop and the bookkeeping in one transaction
      // (no await between the reader check above and here). SQLite may still refuse the write
      // (SQLITE_LOCKED: a cursor of a truncated or timed-out result left open on the table): then
      // the transaction rolls back and the table is copied instead, as below.
      try {
        this.storage.transactionSync(() => {
          if (stage) {
            sql.exec(
              `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${quoteIdent(stage)} ORDER BY rowid`,
            );
            sql.exec(`DROP TABLE ${quoteIdent(stage)}`);
          }
          sql.exec(
            "UPDATE _lh_tables SET version = ?, row_count = ?, schema = ?, bytes = bytes + ?, load_ms = ?, loaded_at = ?, last_load = 'incremental', last_load_rows = ?, loads_incremental = loads_incremental + 1, last_used_at = ? WHERE name = ?",
            delta.to,
            held.row_count + rows,
            JSON.stringify(delta.schema),
            bytes,
            Date.now() - started,
            new Date().toISOString(),
            rows,
            Date.now(),
            name,
          );
        });
        merged = true;
      } catch {
        merged = false;
      }
    }
    if (!merged && stage) {
      const copy = newPhysical();
      try {
        createTable(sql, copy, delta.schema, name);
        const range = sql
          .exec<{ lo: number | null; hi: number | null }>(
            `SELECT min(rowid) AS lo, max(rowid) AS hi FROM ${target}`,
          )
          .one();
        if (range.lo !== null && range.hi !== null) {
          for (let lo = range.lo; lo <= range.hi; lo += COPY_CHUNK_ROWS) {
            sql.exec(
              `INSERT INTO ${quoteIdent(copy)} (${cols}) SELECT ${cols} FROM ${target} WHERE rowid >= ? AND rowid < ? ORDER BY rowid`,
              lo,
              lo + COPY_CHUNK_ROWS,
            );
            await tick(); // other queries run between steps
            if (!stillHeld())
              throw new Error("the dataset's table changed while it was being copied");
          }
        }
      } catch {
        this.held.discard(copy);
        this.held.discard(stage);
        return false;
      }
      this.storage.transactionSync(() => {
        sql.exec(
          `INSERT INTO ${quoteIdent(copy)} (${cols}) SELECT ${cols} FROM ${quoteIdent(stage)} ORDER BY rowid`,
        );
        sql.exec(
          "UPDATE _lh_tables SET physical = ?, version = ?, row_count = ?, schema = ?, bytes = ?, load_ms = ?, loaded_at = ?, last_load = 'incremental', last_load_rows = ?, loads_incremental = loads_incremental + 1, last_used_at = ? WHERE name = ?",
          copy,
          delta.to,
          held.row_count + rows,
          JSON.stringify(delta.schema),
          held.bytes + bytes,
          Date.now() - started,
          new Date().toISOString(),
          rows,
          Date.now(),
          name,
        );
        sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", held.physical);
        sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", stage);
      });
      this.counters.copied++;
    }
    this.held.markUsed(name, Date.now());
    this.counters.incremental++;
    this.held.evict(opts.budget, 0, new Set([...opts.protect, name]));
    this.held.collectGarbage();
    return true;
  }

  /** Every object of the version into a fresh table, swapped in for the held one (which queries may keep reading until they end). */
  private async fullLoad(name: string, version: number, opts: LoadOptions): Promise<void> {
    const given = opts.manifest;
    const manifest =
      given && given.version === version
        ? given
        : await serviceClient(this.env as never, "catalog").json<Manifest>(
            `/manifest/${encodeURIComponent(name)}?version=${version}`,
          );
    const protect = new Set([...opts.protect, name]);
    const before = this.held.all().get(name);
    const estimate =
      before && before.row_count > 0 && before.bytes > 0
        ? Math.ceil((before.bytes / before.row_count) * manifest.row_count)
        : manifest.objects.reduce((n, o) => n + o.size, 0);
    this.held.evict(opts.budget, estimate, protect, name);
    const stage = newPhysical();
    const started = Date.now();
    let stats: { rows: number; bytes: number };
    try {
      stats = await loadDataset(this.storage.sql, this.env.LAKE, manifest, stage);
    } catch (err) {
      this.held.discard(stage);
      throw this.loadFailure(name, version, err);
    }
    const loadMs = Date.now() - started;
    const previous = this.held.all().get(name);
    const now = Date.now();
    this.storage.transactionSync(() => {
      const sql = this.storage.sql;
      sql.exec(
        `INSERT OR REPLACE INTO _lh_tables (${TABLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'full', ?, ?, ?)`,
        name,
        stage,
        manifest.version,
        stats.rows,
        JSON.stringify(manifest.schema),
        loadMs,
        new Date().toISOString(),
        stats.bytes,
        now,
        stats.rows,
        (previous?.loads_full ?? 0) + 1,
        previous?.loads_incremental ?? 0,
      );
      if (previous)
        sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", previous.physical);
    });
    this.held.markUsed(name, now);
    this.counters.full++;
    this.held.evict(opts.budget, 0, protect);
    this.held.collectGarbage();
  }
}

// What one QueryEngine replica holds: the _lh_tables rows (one physical table per dataset version),
// the physical tables queued for dropping (_lh_garbage), and in memory which tables running queries
// read, which datasets they pin, which are loading, and when each was last read.
// Rules: a physical table is dropped only once no running query reads it (a merge into one waits
// for its readers the same way); eviction takes the least recently used datasets first and never
// one a running query reads or pins, one being loaded, or one the caller protects; the held total
// stays within the cache budget except when one dataset alone is larger.
import type { SchemaField } from "../../../shared/types";
import type { CachedTable, DatasetRef, TableRow } from "./engine-types";
import { TABLE_COLUMNS } from "./engine-types";
import { quoteIdent } from "./loader";

/** A table loaded this recently is not dropped by a query whose catalog list predates it. */
const RECENT_LOAD_GRACE_MS = 10_000;
/** last_used_at is written at most this often per table (reads are ordered in memory in between). */
const TOUCH_PERSIST_MS = 1000;

export class HeldTables {
  /** loads in flight, by dataset name: concurrent queries of that dataset wait for the same load (never for another dataset's) */
  private readonly loading = new Map<string, Promise<void>>();
  /** running queries reading each physical table (from their snapshot of _lh_tables to their last row) */
  private readonly readers = new Map<string, number>();
  /** merges waiting until a physical table has no readers */
  private readonly idleWaiters = new Map<string, Set<() => void>>();
  /** running queries per dataset name (from resolution to answer): eviction keeps these */
  private readonly pins = new Map<string, number>();
  /** the last read of each dataset, exact and in memory; persisted to last_used_at at most every TOUCH_PERSIST_MS */
  private readonly used = new Map<string, { at: number; seq: number }>();
  private useSeq = 0;
  /** datasets evicted since the replica started */
  private evicted = 0;
  /** a collection skipped a table that a running query reads: collect again when a query ends */
  private garbageWaits = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** At startup: queues what a cut-short load left behind, drops an older version's views, sizes tables loaded before sizes were kept. */
  repair(): void {
    // a load cut short by a restart leaves its physical table behind
    const sql = this.storage.sql;
    const orphans = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_lh\\_data\\_%' ESCAPE '\\' AND name NOT IN (SELECT physical FROM _lh_tables)",
      )
      .toArray();
    for (const t of orphans)
      sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", t.name);
    // Datasets are no longer views named like the dataset (names differing only in case, or
    // named like SQL words, collided in SQLite's one case-insensitive namespace): queries are
    // rewritten to read the physical tables. Views left by an older version go.
    for (const v of sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'view'")
      .toArray()) {
      sql.exec(`DROP VIEW IF EXISTS ${quoteIdent(v.name)}`);
    }
    // Tables loaded before sizes were kept (migration 0002): estimate from a sample of 1000 rows.
    for (const t of sql
      .exec<{ name: string; physical: string; schema: string; row_count: number }>(
        "SELECT name, physical, schema, row_count FROM _lh_tables WHERE bytes = 0 AND row_count > 0",
      )
      .toArray()) {
      try {
        const cols = (JSON.parse(t.schema) as SchemaField[])
          .map((f) => quoteIdent(f.name))
          .join(", ");
        const sample = sql
          .exec<{ n: number; len: number }>(
            `SELECT count(*) AS n, coalesce(sum(length(json_array(${cols}))), 0) AS len FROM (SELECT ${cols} FROM ${quoteIdent(t.physical)} LIMIT 1000)`,
          )
          .one();
        if (sample.n > 0)
          sql.exec(
            "UPDATE _lh_tables SET bytes = ? WHERE name = ?",
            Math.ceil((sample.len / sample.n) * t.row_count),
            t.name,
          );
      } catch {
        // unreadable: it counts 0 until its next load
      }
    }
    this.collectGarbage();
  }

  get evictions(): number {
    return this.evicted;
  }

  /** The load of `name` in flight, if any. */
  inflight(name: string): Promise<void> | undefined {
    return this.loading.get(name);
  }

  /** Registers the load of `name` (until loadEnded). */
  loadStarted(name: string, load: Promise<void>): void {
    this.loading.set(name, load);
  }

  loadEnded(name: string): void {
    this.loading.delete(name);
  }

  /** Whether a running query reads the physical table. */
  isRead(physical: string): boolean {
    return this.readers.has(physical);
  }

  /** Records `name` as read at `at` (a load counts as a read). */
  markUsed(name: string, at: number): void {
    this.used.set(name, { at, seq: ++this.useSeq });
  }

  /** Pins the datasets a query reads until unpin(): no eviction or drop takes them meanwhile. */
  pin(names: string[]): void {
    for (const n of names) this.pins.set(n, (this.pins.get(n) ?? 0) + 1);
  }

  unpin(names: string[]): void {
    for (const n of names) {
      const left = (this.pins.get(n) ?? 1) - 1;
      if (left > 0) this.pins.set(n, left);
      else this.pins.delete(n);
    }
  }

  all(): Map<string, TableRow> {
    const rows = this.storage.sql
      .exec<TableRow>(`SELECT ${TABLE_COLUMNS} FROM _lh_tables`)
      .toArray();
    return new Map(rows.map((r) => [r.name, r]));
  }

  /** Drops physical tables no longer in use; one still read by a running query or an abandoned cursor stays queued. */
  collectGarbage(): void {
    const sql = this.storage.sql;
    this.garbageWaits = false;
    for (const { physical } of sql
      .exec<{ physical: string }>("SELECT physical FROM _lh_garbage")
      .toArray()) {
      if (this.readers.has(physical)) {
        this.garbageWaits = true; // a running query still reads it: collected when the last one ends
        continue;
      }
      try {
        sql.exec(`DROP TABLE IF EXISTS ${quoteIdent(physical)}`);
        sql.exec("DELETE FROM _lh_garbage WHERE physical = ?", physical);
      } catch {
        // SQLITE_LOCKED: a cursor left open (truncated or timed-out result) still reads it; retry later
      }
    }
  }

  /** Queues a physical table that never became a dataset's (a failed or abandoned load) for dropping. */
  discard(physical: string): void {
    this.storage.sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", physical);
    this.collectGarbage();
  }

  private forget(name: string): TableRow | undefined {
    const current = this.all().get(name);
    this.storage.transactionSync(() => {
      this.storage.sql.exec("DELETE FROM _lh_tables WHERE name = ?", name);
      if (current)
        this.storage.sql.exec(
          "INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)",
          current.physical,
        );
    });
    this.used.delete(name);
    return current;
  }

  drop(name: string): void {
    this.forget(name);
    this.collectGarbage();
  }

  acquire(physicals: Iterable<string>): string[] {
    const list = [...new Set(physicals)];
    for (const p of list) this.readers.set(p, (this.readers.get(p) ?? 0) + 1);
    return list;
  }

  release(list: string[]): void {
    for (const p of list) {
      const n = (this.readers.get(p) ?? 1) - 1;
      if (n > 0) {
        this.readers.set(p, n);
        continue;
      }
      this.readers.delete(p);
      const waiters = this.idleWaiters.get(p);
      if (waiters) {
        this.idleWaiters.delete(p);
        for (const wake of waiters) wake();
      }
    }
    if (this.garbageWaits) this.collectGarbage();
  }

  /** Resolves when the last reader of `physical` is gone, or after `ms`; the caller checks the count again. */
  released(physical: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.idleWaiters.get(physical) ?? new Set<() => void>();
      this.idleWaiters.set(physical, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, ms));
      set.add(wake);
    });
  }

  /** Marks datasets as read now (LRU order in memory; last_used_at persisted at most every TOUCH_PERSIST_MS per table). */
  touch(rows: Iterable<TableRow>): void {
    const now = Date.now();
    for (const t of rows) {
      this.used.set(t.name, { at: now, seq: ++this.useSeq });
      if (now - t.last_used_at >= TOUCH_PERSIST_MS)
        this.storage.sql.exec("UPDATE _lh_tables SET last_used_at = ? WHERE name = ?", now, t.name);
    }
  }

  private recency(t: TableRow): [number, number] {
    const u = this.used.get(t.name);
    return u ? [Math.max(u.at, t.last_used_at), u.seq] : [t.last_used_at, 0];
  }

  /**
   * Makes room for `incoming` bytes: evicts least recently used datasets until the held total
   * plus `incoming` fits `budget`. Never evicts a dataset in `protect`, one a running query
   * reads or is about to read, or one being loaded; `replacing` names the dataset whose held
   * table the incoming load replaces (not counted). A dataset that alone exceeds the budget is
   * still loaded: then everything else that can go, goes.
   */
  evict(budget: number, incoming: number, protect: Set<string>, replacing?: string): number {
    const held = [...this.all().values()];
    let total = incoming;
    for (const t of held) if (t.name !== replacing) total += t.bytes;
    if (total <= budget) return 0;
    const victims = held
      .filter(
        (t) =>
          t.name !== replacing &&
          !protect.has(t.name) &&
          !this.pins.has(t.name) &&
          !this.loading.has(t.name) &&
          !this.readers.has(t.physical),
      )
      .map((t) => ({ t, key: this.recency(t) }))
      .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1]);
    let evicted = 0;
    for (const { t } of victims) {
      if (total <= budget) break;
      this.forget(t.name);
      total -= t.bytes;
      evicted++;
    }
    if (evicted) {
      this.evicted += evicted;
      this.collectGarbage();
    }
    return evicted;
  }

  /**
   * Drops cached datasets the catalog no longer has (their queries already answer "no such
   * table"; this frees the space). Not one that is loading, read by a running query, or loaded
   * in the last RECENT_LOAD_GRACE_MS: this query's catalog list may predate it.
   */
  dropDeleted(datasets: DatasetRef[]): void {
    const inCatalog = new Set(datasets.map((d) => d.name));
    const now = Date.now();
    for (const [name, t] of this.all()) {
      if (inCatalog.has(name) || this.loading.has(name) || this.pins.has(name)) continue;
      if (now - Date.parse(t.loaded_at) < RECENT_LOAD_GRACE_MS) continue;
      this.drop(name);
    }
  }

  describe(t: TableRow): CachedTable {
    const u = this.used.get(t.name);
    return {
      name: t.name,
      version: t.version,
      row_count: t.row_count,
      load_ms: t.load_ms,
      loaded_at: t.loaded_at,
      bytes: t.bytes,
      last_used_at: new Date(Math.max(u?.at ?? 0, t.last_used_at)).toISOString(),
      last_load: t.last_load === "incremental" ? "incremental" : "full",
      last_load_rows: t.last_load_rows,
      loads: { full: t.loads_full, incremental: t.loads_incremental },
    };
  }
}

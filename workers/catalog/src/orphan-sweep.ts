// The orphan sweep (issue #21): objects under the dataset prefix ([ingestd].prefix) that no
// catalog row lists — a killed compaction's output, Parquet an ingest wrote before it died,
// Iceberg files written before a failed commit — are deleted once older than
// [catalogd].orphan_grace_s. It runs inside the Catalog Durable Object (the rows are here), on
// the catalog's cron, a bounded slice per run.
//
// The rule it keeps: nothing a catalog row lists is ever deleted. "Listed" is any `files` row
// (live, or removed but still in a kept version), any `iceberg_manifests` row, any version's
// manifest list or metadata JSON, a dataset's current metadata JSON. A writer in flight is
// protected twice: by the grace (its objects are younger: it writes them before it commits), and
// by the dataset's commit lock — the look-up and the delete of a dataset's candidates happen
// under the lock every commit of that dataset holds, and a commit reads the footer of each file
// it adds inside that lock, so a commit that loses a race with the sweep fails whole instead of
// listing a deleted file.
//
// Bounded: at most `maxPages` listing pages and `maxDeletes` deletes per run; the listing cursor
// is kept (table orphan_sweep) so the next run goes on from there, and starts over at the end.

export interface OrphanSweepOptions {
  /** [ingestd].prefix; an empty prefix (the whole bucket) is refused, nothing is swept */
  prefix: string;
  /** [catalogd].orphan_grace_s in ms: only objects uploaded at or before nowMs - graceMs go */
  graceMs: number;
  /** the sweep's clock (the cron's scheduled time) */
  nowMs: number;
  /** keys per listing page (R2 allows up to 1000) */
  pageSize: number;
  maxPages: number;
  maxDeletes: number;
  /**
   * Leave keys below `<prefix><name>/` deeper than one level (metadata/, data/): with
   * [catalogd].iceberg_catalog = "r2-data-catalog", R2 Data Catalog writes metadata of its own
   * into the table location, which our rows never list.
   */
  topLevelOnly: boolean;
}

export interface OrphanSweepResult {
  /** objects listed this run */
  listed: number;
  /** keys deleted this run */
  deleted: string[];
  /** unlisted objects kept because they are younger than the grace */
  young: number;
  /** true when this run reached the end of the listing (the next one starts over) */
  wrapped: boolean;
}

export interface OrphanSweepContext {
  sql: SqlStorage;
  lake: R2Bucket;
  /** runs `fn` holding the commit lock of dataset `name` */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Whether any catalog row lists `key` (indexed look-ups; migration 0004). */
export function listedByCatalog(sql: SqlStorage, key: string): boolean {
  return (
    sql
      .exec(
        `SELECT 1 FROM files WHERE key = ?1
         UNION ALL SELECT 1 FROM iceberg_manifests WHERE path = ?1
         UNION ALL SELECT 1 FROM versions WHERE manifest_list = ?1
         UNION ALL SELECT 1 FROM versions WHERE metadata_key = ?1
         UNION ALL SELECT 1 FROM datasets WHERE metadata_key = ?1
         LIMIT 1`,
        key,
      )
      .toArray().length > 0
  );
}

/** The dataset a key under the prefix belongs to (the segment after the prefix), "" for a key right under it. */
function datasetOf(prefix: string, key: string): string {
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf("/");
  return slash < 0 ? "" : rest.slice(0, slash);
}

export async function sweepOrphans(
  ctx: OrphanSweepContext,
  opts: OrphanSweepOptions,
): Promise<OrphanSweepResult> {
  const result: OrphanSweepResult = { listed: 0, deleted: [], young: 0, wrapped: false };
  if (!opts.prefix) return result;
  const { sql } = ctx;
  const saved = sql
    .exec<{ prefix: string; cursor: string | null }>(
      "SELECT prefix, cursor FROM orphan_sweep WHERE id = 1",
    )
    .toArray()[0];
  // a cursor is only valid for the listing (prefix) that produced it
  let cursor = saved?.prefix === opts.prefix ? (saved.cursor ?? undefined) : undefined;
  const saveCursor = (c: string | undefined) =>
    sql.exec(
      "INSERT INTO orphan_sweep (id, prefix, cursor) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET prefix = excluded.prefix, cursor = excluded.cursor",
      opts.prefix,
      c ?? null,
    );
  const cutoff = opts.nowMs - opts.graceMs;
  for (let page = 0; page < opts.maxPages && result.deleted.length < opts.maxDeletes; page++) {
    const listing = await ctx.lake.list({
      prefix: opts.prefix,
      limit: opts.pageSize,
      ...(cursor ? { cursor } : {}),
    });
    result.listed += listing.objects.length;
    const byDataset = new Map<string, string[]>();
    let budget = opts.maxDeletes - result.deleted.length;
    let complete = true; // every candidate of this page fits in this run's delete budget
    for (const o of listing.objects) {
      if (opts.topLevelOnly && o.key.slice(opts.prefix.length).split("/").length > 2) continue;
      if (listedByCatalog(sql, o.key)) continue;
      if (o.uploaded.getTime() > cutoff) {
        result.young++;
        continue;
      }
      if (budget === 0) {
        complete = false;
        break;
      }
      budget--;
      const name = datasetOf(opts.prefix, o.key);
      byDataset.set(name, [...(byDataset.get(name) ?? []), o.key]);
    }
    for (const [name, keys] of byDataset) {
      // Under the dataset's commit lock: a commit that listed one of these meanwhile keeps it.
      const gone = await ctx.withLock(name, async () => {
        const still = keys.filter((k) => !listedByCatalog(sql, k));
        if (still.length) await ctx.lake.delete(still);
        return still;
      });
      result.deleted.push(...gone);
    }
    // A page cut short by the delete budget is listed again next run (its deleted keys are gone).
    if (!complete) break;
    cursor = listing.truncated ? listing.cursor : undefined;
    saveCursor(cursor);
    if (!listing.truncated) {
      result.wrapped = true;
      break;
    }
  }
  return result;
}

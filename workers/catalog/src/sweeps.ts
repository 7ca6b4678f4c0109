// The catalog Worker's sweeps, run by its cron (`scheduled`, index.ts) and by internal routes:
// - staged uploads (`_ingest/`) whose ingest died: lease missing (past [catalogd].staging_grace_s)
//   or expired — the leases live in the Catalog object;
// - orphans under the dataset prefix ([ingestd].prefix) that no catalog row lists, past
//   [catalogd].orphan_grace_s — decided and deleted inside the Catalog object (orphan-sweep.ts),
//   a bounded slice per run.
// Both delete only what the Catalog object's rows say nobody holds; docs/storage-layout.md.
import { serviceClient } from "../../../shared/clients";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { logger } from "../../../shared/log";
import type { Catalog } from "./catalog";
import type { OrphanSweepResult } from "./orphan-sweep";

export const STAGING_PREFIX = "_ingest/";

function catalogStub(env: Env): DurableObjectStub<Catalog> {
  return env.CATALOG.get(env.CATALOG.idFromName("catalog"));
}

/**
 * Lists `_ingest/` (at most `pages` pages) and deletes every staged object whose lease is
 * missing (and that is older than [catalogd].staging_grace_s) or expired: its ingest died.
 */
export async function sweepStaging(
  env: Env,
  requestId: string | undefined,
  pages: number,
): Promise<{ deleted: string[]; kept: number }> {
  const storage = serviceClient(env as unknown as Record<string, unknown>, "storage", requestId);
  const graceMs = lakehouseConfig(env).catalogd.staging_grace_s * 1000;
  const deleted: string[] = [];
  let kept = 0;
  let cursor: string | null = null;
  for (let page = 0; page < pages; page++) {
    const q = new URLSearchParams({ prefix: STAGING_PREFIX, limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    const listed = await storage.json<{
      objects: { key: string; uploaded: string }[];
      cursor: string | null;
    }>(`/list?${q}`);
    const stale = await catalogStub(env).staleStaged(
      listed.objects.map((o) => ({ key: o.key, uploaded: Date.parse(o.uploaded) })),
      graceMs,
    );
    if (stale.length) await storage.json("/delete", { method: "POST", json: { keys: stale } });
    deleted.push(...stale);
    kept += listed.objects.length - stale.length;
    cursor = listed.cursor;
    if (!cursor) break;
  }
  if (deleted.length)
    logger(env, "catalog").info(
      `staging sweep deleted ${deleted.length} abandoned upload(s): ${deleted.join(", ")}`,
    );
  return { deleted, kept };
}

/** Bounds of one orphan sweep run (a huge bucket is swept over several runs). */
export const ORPHAN_SWEEP_LIMITS = { pageSize: 1000, maxPages: 10, maxDeletes: 1000 };

/**
 * One bounded run of the orphan sweep (orphan-sweep.ts): objects under [ingestd].prefix that no
 * catalog row lists, uploaded at least [catalogd].orphan_grace_s before `nowMs` (the cron's
 * scheduled time), are deleted; the listing resumes where the previous run stopped.
 */
export async function sweepLakeOrphans(
  env: Env,
  nowMs: number,
  limits = ORPHAN_SWEEP_LIMITS,
): Promise<OrphanSweepResult> {
  const config = lakehouseConfig(env);
  const result = await catalogStub(env).sweepOrphans({
    prefix: config.ingestd.prefix,
    graceMs: config.catalogd.orphan_grace_s * 1000,
    nowMs,
    ...limits,
    topLevelOnly: config.catalogd.iceberg_catalog === "r2-data-catalog",
  });
  if (result.deleted.length)
    logger(env, "catalog").info(
      `orphan sweep deleted ${result.deleted.length} object(s) no catalog row lists: ${result.deleted.join(", ")}`,
    );
  return result;
}

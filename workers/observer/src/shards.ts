// Shards of the witness plane ([observerd].shards, docs/observer.md "Shards"). Events are spread
// over that many Observer objects by their request id; every reader merges the shards so each
// route answers as one object would: the ring is the newest ring_cap ops (within ring_max_bytes)
// across shards by op id, /ops is one log in id order, and everything the cycle keeps (clusters,
// playbooks, escalations, recommendations, reviews, cycles, the lease, the corrections offset)
// lives in shard 0, which is the object the single-object version used (`idFromName("default")`).
//
// Changing the shard count never strands an op: before a shard > 0 first writes (per object
// start), shard 0 durably records the span (Observer.record → ensureSpan); readers fan out over
// max(configured shards, recorded span), so shards a smaller count no longer writes to are
// still read, merged, analysed and pruned.
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import {
  observerShardOf,
  observerShardStub,
  observerWriteShard,
} from "../../../shared/observer-shards";
import type { ObservedOp } from "../../../shared/types";
import type { OpsQuery } from "./observer";
import type { RingDigest, RingStats } from "./ops";

export type ObserverStub = DurableObjectStub<import("./observer").Observer>;

/** Shard i's object: shard 0 keeps the single-object name, so a deployment that had one object keeps its log there. */
export function shardStub(env: Env, i: number): ObserverStub {
  return observerShardStub(env.OBSERVER, i);
}

export function shardCount(env: Env): number {
  return lakehouseConfig(env).observerd.shards;
}

/** FNV-1a of the request id mod n (shared/observer-shards.ts: the gateway picks shards with the same function). */
export const shardOf = observerShardOf;

/** Per isolate (per namespace binding): the span shard 0 is known to have recorded (learnt from reads). */
const recordedSpan = new WeakMap<object, number>();

/**
 * The shard a write with this key goes to. The span is recorded by the shard's object itself
 * before its first write (Observer.record), so a reader never misses it, whichever Worker wrote.
 */
export function writeShard(env: Env, key: string): { stub: ObserverStub; shard: number } {
  return observerWriteShard(env.OBSERVER, shardCount(env), key);
}

/** Shards a reader fans out over, as far as this isolate knows (fanOut also asks shard 0). */
function knownShards(env: Env): number {
  return Math.max(shardCount(env), recordedSpan.get(env.OBSERVER) ?? 1);
}

/** Every shard that may hold ops, from shard 0's recorded span (for work done one shard at a time). */
export async function allShards(env: Env): Promise<number> {
  const span = await shardStub(env, 0).shardSpan();
  recordedSpan.set(env.OBSERVER, Math.max(span, recordedSpan.get(env.OBSERVER) ?? 1));
  return Math.max(shardCount(env), span);
}

/**
 * Calls `f` on every shard that may hold ops: max(configured, recorded span), the span read from
 * shard 0 in parallel with the calls; shards the recorded span adds are called after. Results by shard index.
 */
export async function fanOut<T>(
  env: Env,
  f: (stub: ObserverStub, i: number) => Promise<T>,
): Promise<T[]> {
  const n = knownShards(env);
  const [span, ...first] = await Promise.all([
    shardStub(env, 0).shardSpan(),
    ...Array.from({ length: n }, (_, i) => f(shardStub(env, i), i)),
  ]);
  recordedSpan.set(env.OBSERVER, Math.max(span, recordedSpan.get(env.OBSERVER) ?? 1));
  if (span <= n) return first;
  const rest = await Promise.all(
    Array.from({ length: span - n }, (_, j) => f(shardStub(env, n + j), n + j)),
  );
  return [...first, ...rest];
}

/**
 * The stats of the ring one object would hold: walking every shard's ring newest-first by op id,
 * the longest run that fits ring_cap ops and ring_max_bytes (the newest op always kept) — exactly
 * what a single Ring fed the same ops in id order holds (each shard's part of it is a suffix of
 * that shard's own ring, which holds its newest ops within the same bounds).
 */
export function mergeRings(
  digests: RingDigest[],
  ringCap: number,
  maxBytes: number,
  recentCap: number,
): RingStats {
  const pos = digests.map((d) => d.ids.length - 1);
  let total = 0;
  let bytes = 0;
  let successes = 0;
  let oldestId = Number.POSITIVE_INFINITY;
  const bySource = new Map<string, number>();
  while (total < ringCap) {
    let best = -1;
    for (let s = 0; s < digests.length; s++) {
      if (pos[s]! >= 0 && (best < 0 || digests[s]!.ids[pos[s]!]! > digests[best]!.ids[pos[best]!]!))
        best = s;
    }
    if (best < 0) break;
    const d = digests[best]!;
    const i = pos[best]!;
    if (total > 0 && bytes + d.bytes[i]! > maxBytes) break;
    total++;
    bytes += d.bytes[i]!;
    successes += d.success[i]!;
    bySource.set(d.sources[i]!, (bySource.get(d.sources[i]!) ?? 0) + 1);
    oldestId = d.ids[i]!;
    pos[best] = i - 1;
  }
  const recent: { id: number; op: ObservedOp }[] = digests
    .flatMap((d) => d.recent)
    .filter((r) => r.id >= oldestId)
    .sort((a, b) => a.id - b.id)
    .slice(-recentCap);
  return {
    total,
    ring_bytes: bytes,
    ring_max_bytes: maxBytes,
    successes,
    failures: total - successes,
    by_source: Object.fromEntries([...bySource.entries()].sort(([a], [b]) => a.localeCompare(b))),
    recent_scenario_ops: recent.map((r) => r.op),
  };
}

/** GET /stats across shards (one object: its own ring's stats, as before). */
export async function mergedStats(env: Env): Promise<RingStats> {
  const cfg = lakehouseConfig(env).observerd;
  if (shardCount(env) === 1 && (recordedSpan.get(env.OBSERVER) ?? 1) === 1) {
    const [span, stats] = await Promise.all([
      shardStub(env, 0).shardSpan(),
      shardStub(env, 0).stats(),
    ]);
    recordedSpan.set(env.OBSERVER, span);
    if (span === 1) return stats;
  }
  const digests = await fanOut(env, (stub) => stub.ringDigest());
  return mergeRings(digests, cfg.ring_cap, cfg.ring_max_bytes, cfg.recent_scenario_cap);
}

/** Bytes of ops all shards together send for one /ops page (a single object sends a page of up to 1,000 capped ops, ≈ 14.5 MiB at most). */
const OPS_PAGE_BYTES = 16 * 1024 * 1024;

/**
 * GET /ops across shards: each shard's page after `after_id` (within its share of OPS_PAGE_BYTES,
 * so the Worker never holds more than one object's worth of page), merged by id — the log's
 * order — and the log's size summed. A shard that stopped early bounds the merged page at its
 * last op: every op at or below that id has been sent by every shard, so nothing is skipped.
 */
export async function mergedOps(
  env: Env,
  q: OpsQuery,
): Promise<{
  ops: (ObservedOp & { id: number })[];
  next_after_id: number | null;
  log_size: number;
}> {
  const n = knownShards(env);
  const pages = await fanOut(env, (stub) =>
    stub.queryPage(n === 1 ? q : { ...q, max_bytes: Math.ceil(OPS_PAGE_BYTES / n) }),
  );
  if (pages.length === 1) return pages[0]!;
  const cutoff = Math.min(
    ...pages.filter((p) => p.next_after_id !== null).map((p) => p.next_after_id!),
  );
  const all = pages
    .flatMap((p) => p.ops)
    .filter((o) => o.id <= cutoff)
    .sort((a, b) => a.id - b.id);
  const ops = all.slice(0, q.limit);
  const more = all.length > ops.length || pages.some((p) => p.next_after_id !== null);
  return {
    ops,
    next_after_id: more && ops.length > 0 ? ops[ops.length - 1]!.id : null,
    log_size: pages.reduce((n, p) => n + p.log_size, 0),
  };
}

// The observer cycle, run by the cron trigger and by POST /observer/cycle:
//   1. tail overseer_corrections.jsonl from storage (Range from the stored offset)
//   2. fold new ops into failure clusters; a recommendation per changed cluster
//   3. promote repeated successes to playbooks; record them in matrix (retried until done)
//   4. escalate each cluster at the threshold, once, with a pathway + matrix briefing
// The Worker does the I/O; the Observer object holds the state, and every step commits
// on its own (compare-and-set offsets, an analysis cursor, a UNIQUE escalation per
// cluster), so a cycle that stops half-way loses nothing and the next one finishes.
// A lease in the object keeps two cycles from running at once.
import { serviceClient } from "../../../shared/clients";
import { encodeKeyPath } from "../../../shared/keys";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { ObservedOp, Trace } from "../../../shared/types";
import {
  type ClusterView,
  correctionToOp,
  heuristicEscalation,
  heuristicRecommendation,
  splitCompleteLines,
} from "./analysis";
import { chat, type LlmEnv, LlmError } from "./llm";
import { allShards, fanOut, shardStub } from "./shards";

export const CORRECTIONS_CHUNK_BYTES = 4 * 1024 * 1024;
const ANALYSE_BATCH = 5000;
const ANALYSE_MAX_BATCHES = 20;
/** Clusters + patterns one shard's delta may hold (≈ 13 KiB each at most: far below the RPC limit). */
const FOLD_MAX_KEYS = 500;

/** Shard 0: the object that holds the cycle's state (and, with one shard, everything). */
export function observerStub(env: Env) {
  return shardStub(env, 0);
}

type Stub = ReturnType<typeof observerStub>;
type StepStatus = "ok" | "skipped" | "failed";

export interface CycleSummary {
  cycle_id?: string;
  trigger: string;
  status: "completed" | "busy";
  busy?: { cycle_id: string; expires_at: string };
  started_at: string;
  finished_at?: string;
  corrections?: {
    status: StepStatus;
    applied: number;
    malformed: number;
    offset: number;
    reason?: string;
  };
  analysis?: {
    status: StepStatus;
    processed: number;
    failures: number;
    successes: number;
    new_playbooks: string[];
    reason?: string;
  };
  /** `deferred`: left for the next cycle because this cycle's LLM budget was spent. */
  recommendations?: {
    status: StepStatus;
    written: number;
    by_llm: number;
    by_heuristic: number;
    deferred: number;
    reason?: string;
  };
  playbooks?: { status: StepStatus; recorded: number; pending: number; reason?: string };
  escalations?: {
    status: StepStatus;
    escalated: string[];
    by_llm: number;
    by_heuristic: number;
    deferred: number;
    reason?: string;
  };
  pruned?: number;
  llm_calls: number;
}

const msg = (err: unknown) => (err instanceof Error ? err.message : String(err));

class LlmBudget {
  used = 0;
  constructor(
    private readonly env: Env,
    private readonly max: number,
  ) {}
  get configured(): boolean {
    return lakehouseConfig(this.env).llm.provider !== "none";
  }
  /**
   * True when an LLM is configured and this cycle has made [observerd].cycle_max_llm_calls
   * calls: the remaining escalations and recommendations wait for the next cycle (they stay
   * pending / unrecommended) rather than being answered by the heuristic.
   */
  get exhausted(): boolean {
    return this.configured && this.used >= this.max;
  }
  /** Asks the LLM if one is configured and the cycle's budget allows; undefined = use the heuristic. */
  async ask(
    system: string,
    user: string,
  ): Promise<{ text: string; model: string } | { error: string | null }> {
    if (!this.configured) return { error: null };
    if (this.used >= this.max) return { error: "cycle LLM budget exhausted" };
    this.used++;
    try {
      return await chat(this.env as unknown as LlmEnv & object, [
        { role: "system", content: system },
        { role: "user", content: user },
      ]);
    } catch (err) {
      return { error: err instanceof LlmError ? err.message : msg(err) };
    }
  }
}

/** Step 1: reads the corrections object from the stored offset and records each complete line. */
async function tailCorrections(
  env: Env,
  stub: Stub,
  key: string,
): Promise<NonNullable<CycleSummary["corrections"]>> {
  const storage = serviceClient(env as unknown as Record<string, unknown>, "storage");
  const path = `/objects/${encodeKeyPath(key)}`;
  let applied = 0;
  let malformed = 0;
  for (let round = 0; round < 8; round++) {
    const offset = await stub.correctionsOffset();
    const res = await storage.fetch(path, {
      headers: { range: `bytes=${offset}-${offset + CORRECTIONS_CHUNK_BYTES - 1}` },
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return {
        status: "skipped",
        applied,
        malformed,
        offset,
        reason: `no object ${key} in storage yet`,
      };
    }
    if (res.status === 416) {
      await res.body?.cancel();
      const head = await storage.fetch(path, { method: "HEAD" });
      const size = Number(head.headers.get("content-length") ?? "NaN");
      if (Number.isFinite(size) && size < offset) {
        // The file was replaced by a shorter one: start again from its beginning.
        await stub.applyCorrections(offset, 0, []);
        continue;
      }
      return { status: "ok", applied, malformed, offset };
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      return {
        status: "failed",
        applied,
        malformed,
        offset,
        reason: `storage answered HTTP ${res.status}: ${text.slice(0, 200)}`,
      };
    }
    let bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status === 200 && offset > 0) bytes = bytes.subarray(offset); // a store that ignored the Range
    let { lines, consumed } = splitCompleteLines(bytes);
    if (consumed === 0 && bytes.length >= CORRECTIONS_CHUNK_BYTES) {
      // One line longer than a whole chunk: count it malformed and step over the chunk.
      lines = [];
      consumed = bytes.length;
      malformed++;
    }
    if (consumed === 0) return { status: "ok", applied, malformed, offset };
    const now = new Date();
    const ops: { op: ObservedOp; ts_ms: number }[] = [];
    for (const line of lines) {
      if (line.trim() === "") continue;
      const op = correctionToOp(line, now);
      if (!op) {
        malformed++;
        continue;
      }
      ops.push({ op, ts_ms: Date.parse(op.timestamp) });
    }
    const r = await stub.applyCorrections(offset, offset + consumed, ops);
    if ("stale" in r)
      return {
        status: "skipped",
        applied,
        malformed,
        offset: r.offset,
        reason: "another cycle applied these lines",
      };
    applied += r.applied;
    if (bytes.length < CORRECTIONS_CHUNK_BYTES)
      return { status: "ok", applied, malformed, offset: offset + consumed };
  }
  return { status: "ok", applied, malformed, offset: await stub.correctionsOffset() };
}

const RECOMMEND_SYSTEM =
  "You are the observer of an AI data platform. Given a cluster of repeated failures, " +
  "write a short, concrete recommendation (2-4 sentences) to prevent them.";
const ESCALATE_SYSTEM =
  "You are the LLM team escalation desk of an AI data platform. A failure cluster crossed its " +
  "threshold. Using the briefing, diagnose the likely root cause and give a step-by-step fix.";

function clusterText(c: ClusterView): string {
  return (
    `cluster ${c.id}: ${c.count} failures, endpoints ${c.endpoints.join(", ")}, first ${c.first_seen}, last ${c.last_seen}\n` +
    `normalised error: ${c.normalized_error}\nsample errors:\n${c.sample_errors.map((e) => `- ${e}`).join("\n")}`
  );
}

/** The context an escalation carries: pathway traces and matrix hits; a missing service is noted, not fatal. */
async function briefing(
  env: Env,
  c: ClusterView,
): Promise<{ cluster: ClusterView; pathway: unknown; matrix: unknown; notes: string[] }> {
  const e = env as unknown as Record<string, unknown>;
  const notes: string[] = [];
  let pathway: unknown = null;
  let matrix: unknown = null;
  try {
    const r = await serviceClient(e, "pathway").json<{ traces: Trace[] }>("/search", {
      method: "POST",
      json: { text: c.sig_hash ?? c.endpoint, include_retired: false, limit: 5 },
    });
    pathway = r.traces.map((t) => ({
      uid: t.uid,
      tags: t.tags,
      content: JSON.stringify(t.content).slice(0, 1000),
    }));
    notes.push(`pathway: ${r.traces.length} trace(s)`);
  } catch (err) {
    notes.push(`pathway skipped: ${msg(err)}`);
  }
  try {
    const cfg = lakehouseConfig(env).matrixd;
    const r = await serviceClient(e, "matrix").json<{ results: unknown[] }>("/search", {
      method: "POST",
      json: {
        query_text: `${c.endpoint} ${c.normalized_error}`.slice(0, 2000),
        corpora: [cfg.playbook_corpus],
        k: 5,
      },
    });
    matrix = r.results;
    notes.push(`matrix: ${r.results.length} hit(s)`);
  } catch (err) {
    notes.push(`matrix skipped: ${msg(err)}`);
  }
  return { cluster: c, pathway, matrix, notes };
}

export async function runCycle(env: Env, trigger: string): Promise<CycleSummary> {
  const cfg = lakehouseConfig(env);
  const stub = observerStub(env);
  const started = new Date();
  const begin = await stub.beginCycle(trigger, started.getTime(), cfg.observerd.cycle_lease_ms);
  if ("busy" in begin)
    return {
      trigger,
      status: "busy",
      busy: begin.busy,
      started_at: started.toISOString(),
      llm_calls: 0,
    };
  const llm = new LlmBudget(env, cfg.observerd.cycle_max_llm_calls);
  const s: CycleSummary = {
    cycle_id: begin.cycle_id,
    trigger,
    status: "completed",
    started_at: started.toISOString(),
    llm_calls: 0,
  };
  try {
    // 1. corrections
    try {
      s.corrections = await tailCorrections(env, stub, cfg.observerd.corrections_key);
    } catch (err) {
      s.corrections = {
        status: "failed",
        applied: 0,
        malformed: 0,
        offset: await stub.correctionsOffset(),
        reason: msg(err),
      };
    }

    // 2. analysis: clusters and patterns, over shard 0's log in the object itself, then over
    // every other shard's: the shard folds its new ops into a delta, shard 0 merges it and moves
    // that shard's cursor (compare-and-set), so the clusters are the same as over one log.
    const a = {
      status: "ok" as StepStatus,
      processed: 0,
      failures: 0,
      successes: 0,
      new_playbooks: [] as string[],
    };
    try {
      for (let i = 0; i < ANALYSE_MAX_BATCHES; i++) {
        const r = await stub.analyse(ANALYSE_BATCH, cfg.observerd.playbook_min_successes);
        a.processed += r.processed;
        a.failures += r.failures;
        a.successes += r.successes;
        a.new_playbooks.push(...r.new_playbooks);
        if (!r.more) break;
      }
      // One shard at a time, one delta in memory at a time.
      const shards = await allShards(env);
      for (let index = 1; index < shards; index++) {
        const shard = shardStub(env, index);
        for (let i = 0; i < ANALYSE_MAX_BATCHES; i++) {
          const from = await stub.analysisCursor(index);
          const d = await shard.foldOps(from, ANALYSE_BATCH, FOLD_MAX_KEYS);
          if (d.processed === 0) break;
          const r = await stub.mergeFold(index, from, d, cfg.observerd.playbook_min_successes);
          if ("stale" in r) break; // another cycle merged it
          a.processed += d.processed;
          a.failures += d.failures;
          a.successes += d.successes;
          a.new_playbooks.push(...r.new_playbooks);
          if (!d.more) break;
        }
      }
      s.analysis = a;
    } catch (err) {
      s.analysis = { ...a, status: "failed", reason: msg(err) };
    }

    // 4 before recommendations: escalations matter most when the LLM budget is short.
    const esc = {
      status: "ok" as StepStatus,
      escalated: [] as string[],
      by_llm: 0,
      by_heuristic: 0,
      deferred: 0,
    };
    try {
      const pending = await stub.claimEscalations(cfg.observerd.escalation_threshold, 50);
      for (const { escalation_id, cluster } of pending) {
        if (llm.exhausted) {
          esc.deferred++; // stays pending: the next cycle takes it first
          continue;
        }
        const b = await briefing(env, cluster);
        const user = `ESCALATION\n${clusterText(cluster)}\n\nBRIEFING (pathway traces, matrix hits):\n${JSON.stringify({ pathway: b.pathway, matrix: b.matrix, notes: b.notes }).slice(0, 12_000)}`;
        const answer = await llm.ask(ESCALATE_SYSTEM, user);
        if ("text" in answer) {
          await stub.completeEscalation(escalation_id, b, answer.text, "llm", answer.model, null);
          esc.by_llm++;
        } else {
          await stub.completeEscalation(
            escalation_id,
            b,
            heuristicEscalation(cluster, b.notes),
            "heuristic",
            null,
            answer.error,
          );
          esc.by_heuristic++;
        }
        esc.escalated.push(cluster.id);
      }
      s.escalations = esc;
    } catch (err) {
      s.escalations = { ...esc, status: "failed", reason: msg(err) };
    }

    // 2b. a recommendation per cluster that changed since its last one
    const rec = { status: "ok" as StepStatus, written: 0, by_llm: 0, by_heuristic: 0, deferred: 0 };
    try {
      for (const c of await stub.clustersNeedingRecommendation(200)) {
        if (llm.exhausted) {
          rec.deferred++; // the cluster still needs one: the next cycle finds it again
          continue;
        }
        const answer = await llm.ask(RECOMMEND_SYSTEM, `RECOMMEND\n${clusterText(c)}`);
        if ("text" in answer) {
          await stub.addRecommendation(c.id, c.count, answer.text, "llm", answer.model, null);
          rec.by_llm++;
        } else {
          await stub.addRecommendation(
            c.id,
            c.count,
            heuristicRecommendation(c),
            "heuristic",
            null,
            answer.error,
          );
          rec.by_heuristic++;
        }
        rec.written++;
      }
      s.recommendations = rec;
    } catch (err) {
      s.recommendations = { ...rec, status: "failed", reason: msg(err) };
    }

    // 3. playbooks into the matrix playbook memory (each exactly once; retried until matrix takes it)
    const pb = { status: "ok" as StepStatus, recorded: 0, pending: 0 };
    try {
      const todo = await stub.playbooksToRecord(100);
      let matrixError: string | undefined;
      for (const p of todo) {
        if (matrixError) {
          pb.pending++;
          continue;
        }
        try {
          const r = await serviceClient(env as unknown as Record<string, unknown>, "matrix").json<{
            playbook_id: string;
          }>("/playbooks/record", {
            method: "POST",
            json: {
              query_text: `${p.pattern}: ${p.samples.join(" | ")}`.slice(0, 4000),
              answer_id: p.pattern,
              answer_corpus: "observer_playbooks",
              score: Math.min(1, Math.max(0, p.success_rate)),
              tags: ["observer", "playbook"],
            },
          });
          await stub.markPlaybookRecorded(p.pattern, { playbook_id: String(r.playbook_id) });
          pb.recorded++;
        } catch (err) {
          // matrix absent or failing: keep the playbook, try again next cycle
          matrixError = msg(err);
          await stub.markPlaybookRecorded(p.pattern, { error: matrixError });
          pb.pending++;
        }
      }
      s.playbooks = matrixError
        ? { ...pb, status: "skipped", reason: `matrix record skipped: ${matrixError}` }
        : pb;
    } catch (err) {
      s.playbooks = { ...pb, status: "failed", reason: msg(err) };
    }

    const now = Date.now();
    s.pruned = (await fanOut(env, (shard) => shard.prune(now))).reduce((n, x) => n + x, 0);
  } finally {
    s.llm_calls = llm.used;
    s.finished_at = new Date().toISOString();
    await stub.endCycle(begin.cycle_id, s);
  }
  return s;
}

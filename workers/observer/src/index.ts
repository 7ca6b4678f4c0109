// lakehouse-observer: the witness loop. Records every op (durably, then into the ring),
// answers stats and the durable log, reviews answers, and runs the cycle on the cron
// trigger and on POST /observer/cycle. DESIGN §6 Observer; docs/observer.md.
import type { Context } from "hono";
import { createServiceApp, readJsonObject, type AppEnv } from "../../../shared/app";
import { LakehouseError, badRequest, payloadTooLarge } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { ObservedOp } from "../../../shared/types";
import { observerStub, runCycle } from "./cycle";
import type { LlmEnv } from "./llm";
import { normalizeOp, SOURCES } from "./ops";
import { parseReviewInput, review } from "./review";

const { app, api } = createServiceApp<Env>("observer", "observer", {
  health: async (env) => ({ ring_size: await observerStub(env).ringSize() }),
});
type C = Context<AppEnv<Env>>;

/** The body as text within [observerd].max_event_bytes (413 before parsing when over). */
async function cappedJson(c: C): Promise<unknown> {
  const cap = lakehouseConfig(c.env).observerd.max_event_bytes;
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > cap) throw payloadTooLarge(`event body of ${declared} bytes is over the ${cap}-byte cap ([observerd].max_event_bytes)`);
  const text = await c.req.text();
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > cap) throw payloadTooLarge(`event body of ${bytes} bytes is over the ${cap}-byte cap ([observerd].max_event_bytes)`);
  if (text.trim() === "") throw badRequest("request body is empty; expected JSON");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

api.post("/event", async (c) => {
  const body = await cappedJson(c);
  const n = normalizeOp(body, new Date());
  if (!n.ok) throw badRequest(n.message);
  const r = await observerStub(c.env).record([{ op: n.op, ts_ms: n.ts_ms }]);
  return c.json({ accepted: true, ring_size: r.ring_size, id: r.ids[0] });
});

api.post("/events", async (c) => {
  const body = await cappedJson(c);
  const events = Array.isArray(body) ? body : (body as { events?: unknown })?.events;
  if (!Array.isArray(events)) throw badRequest("events: expected an array of events (or a body that is the array)");
  if (events.length > 10_000) throw badRequest(`events: at most 10000 events per batch, got ${events.length}`);
  const now = new Date();
  const valid: { op: ObservedOp; ts_ms: number }[] = [];
  const results: ({ index: number; accepted: true; id?: number } | { index: number; accepted: false; error: { code: string; message: string } })[] = [];
  const validIndex: number[] = [];
  events.forEach((e, index) => {
    const n = normalizeOp(e, now, `events[${index}].`);
    if (n.ok) {
      valid.push({ op: n.op, ts_ms: n.ts_ms });
      validIndex.push(results.length);
      results.push({ index, accepted: true });
    } else {
      results.push({ index, accepted: false, error: { code: "bad_request", message: n.message } });
    }
  });
  const stub = observerStub(c.env);
  const r = valid.length > 0 ? await stub.record(valid) : { ids: [], ring_size: await stub.ringSize() };
  validIndex.forEach((ri, i) => ((results[ri] as { id?: number }).id = r.ids[i]));
  return c.json({ accepted: valid.length, rejected: events.length - valid.length, ring_size: r.ring_size, results });
});

api.get("/stats", async (c) => c.json(await observerStub(c.env).stats()));

function intParam(c: C, name: string, def: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw badRequest(`${name}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return Math.min(n, max);
}

function timeParam(c: C, name: string): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return undefined;
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t)) throw badRequest(`${name}: expected an RFC 3339 time or epoch milliseconds, got ${JSON.stringify(raw)}`);
  return t;
}

api.get("/ops", async (c) => {
  const source = c.req.query("source") || undefined;
  if (source !== undefined && !SOURCES.includes(source as never)) throw badRequest(`source: expected one of ${SOURCES.join(", ")}, got ${JSON.stringify(source)}`);
  const successRaw = c.req.query("success");
  if (successRaw !== undefined && successRaw !== "" && successRaw !== "true" && successRaw !== "false") {
    throw badRequest(`success: expected true or false, got ${JSON.stringify(successRaw)}`);
  }
  const afterRaw = c.req.query("after_id");
  if (afterRaw !== undefined && afterRaw !== "" && !/^\d+$/.test(afterRaw)) throw badRequest(`after_id: expected a non-negative integer, got ${JSON.stringify(afterRaw)}`);
  const r = await observerStub(c.env).queryOps({
    source,
    success: successRaw === "true" ? true : successRaw === "false" ? false : undefined,
    since_ms: timeParam(c, "since"),
    until_ms: timeParam(c, "until"),
    after_id: afterRaw ? Number(afterRaw) : undefined,
    limit: intParam(c, "limit", 100, 1000),
  });
  return c.json({ ...r, count: r.ops.length, log_size: await observerStub(c.env).logCount() });
});

api.post("/review", async (c) => {
  const input = parseReviewInput(await readJsonObject(c));
  const v = await review(c.env as unknown as LlmEnv & object, input, lakehouseConfig(c.env).observerd.review_timeout_ms);
  const id = await observerStub(c.env).addReview(input, v);
  return c.json({ id, ...v });
});

api.post("/cycle", async (c) => {
  const s = await runCycle(c.env, "http");
  if (s.status === "busy") throw new LakehouseError("conflict", `another cycle (${s.busy!.cycle_id}) is running until ${s.busy!.expires_at}`, { details: s.busy });
  return c.json(s);
});

for (const kind of ["clusters", "escalations", "reviews", "recommendations", "cycles"] as const) {
  api.get(`/${kind}`, async (c) => {
    const items: unknown[] = await observerStub(c.env).list(kind, intParam(c, "limit", 100, 1000));
    return c.json({ [kind]: items, count: items.length });
  });
}

api.get("/playbooks", async (c) => {
  const items = await observerStub(c.env).listPlaybooks(intParam(c, "limit", 100, 1000));
  return c.json({ playbooks: items, count: items.length });
});

/** The cron trigger: one cycle per tick (a tick that finds a cycle running does nothing). */
export async function scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  try {
    const s = await runCycle(env, `cron ${controller.cron}`);
    console.log(`[observer] cycle ${s.status}`, JSON.stringify({ cycle_id: s.cycle_id, llm_calls: s.llm_calls }));
  } catch (err) {
    console.error("[observer] cycle failed", err);
    throw err;
  }
}

export { Observer } from "./observer";
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;

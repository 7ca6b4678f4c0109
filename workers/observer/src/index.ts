// lakehouse-observer: the witness loop. Records every op (durably, then into the ring),
// answers stats and the durable log, reviews answers, and runs the cycle on the cron
// trigger and on POST /observer/cycle. DESIGN §6 Observer; docs/observer.md.
// Every route is in GET /observer/openapi.json, documented by the zod schemas that validate it:
// createRoute for the JSON routes and the queries; POST /events is registered with registerPath
// because a bad event is reported in its own result, not by failing the batch (each item is
// parsed with ObservedOpInput, the envelope with EventsEnvelope), and POST /event because its
// handler reads, parses and validates the body once (the per-event path, issue #15). Body caps
// (413) stay here. Reads merge the shards ([observerd].shards, src/shards.ts).
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  type AppEnv,
  createServiceApp,
  jsonBody,
  jsonResponse,
  parseWith,
} from "../../../shared/app";
import { LakehouseError } from "../../../shared/errors";
import { parseJsonBounded, readBoundedText } from "../../../shared/json-limits";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { logger } from "../../../shared/log";
import { observerEventResponse } from "../../../shared/observer-shards";
import type { ObservedOp } from "../../../shared/types";
import { observerStub, runCycle } from "./cycle";
import type { LlmEnv } from "./llm";
import { normalizeOp, ObservedOpInput, orBlank, SOURCES, show } from "./ops";
import { ReviewBody, review, reviewInput } from "./review";
import { mergedOps, mergedStats, writeShard } from "./shards";

const { app, api } = createServiceApp<Env>("observer", "observer", {
  health: async (env) => ({ ring_size: (await mergedStats(env)).total }),
});
type C = Context<AppEnv<Env>>;

/**
 * The body within [observerd].max_event_bytes (413: a declared length before reading, a
 * stream as soon as it passes the cap), then JSON within the depth limit (400).
 */
async function cappedJson(c: C): Promise<unknown> {
  const cap = lakehouseConfig(c.env).observerd.max_event_bytes;
  const text = await readBoundedText(c, cap, "[observerd].max_event_bytes");
  return parseJsonBounded(text, "request body");
}

// ---- schemas (requests: these validate; responses: documentation) ----

const MAX_BATCH = 10_000;
/** A batch: the array of events, or {"events": [...]}; at most 10000. */
function batchOf<T extends z.ZodType>(item: T) {
  return z.union(
    [z.array(item).max(MAX_BATCH), z.strictObject({ events: z.array(item).max(MAX_BATCH) })],
    {
      error: (iss) => {
        const input = iss.input as { events?: unknown } | undefined;
        const events = Array.isArray(input) ? input : input?.events;
        return Array.isArray(events) && events.length > MAX_BATCH
          ? `at most ${MAX_BATCH} events per batch, got ${events.length}`
          : `expected an array of events (or a body that is the array), got ${show(iss.input)}`;
      },
    },
  );
}
/** What POST /events documents: a batch of ObservedOpInput. */
const EventsBody = batchOf(ObservedOpInput);
/** What POST /events parses the body with; each item is then parsed with ObservedOpInput on its own. */
const EventsEnvelope = batchOf(z.unknown());

const positiveInt = orBlank("expected a positive integer", (error) =>
  z.string({ error }).regex(/^0*[1-9]\d*$/, { error }),
)
  .optional()
  .openapi({ description: "a positive integer", example: "100" });
const time = orBlank("expected an RFC 3339 time or epoch milliseconds", (error) =>
  z
    .string({ error })
    .refine((raw) => Number.isFinite(/^\d+$/.test(raw) ? Number(raw) : Date.parse(raw)), { error }),
).optional();
const OpsQuery = z.object({
  source: orBlank(`expected one of ${SOURCES.join(", ")}`, (error) =>
    z.enum(SOURCES as [string, ...string[]], { error }),
  ).optional(),
  success: orBlank("expected true or false", (error) =>
    z.enum(["true", "false"], { error }),
  ).optional(),
  since: time.openapi({ description: "only ops at or after this time (RFC 3339 or epoch ms)" }),
  until: time.openapi({ description: "only ops before this time (RFC 3339 or epoch ms)" }),
  after_id: orBlank("expected a non-negative integer", (error) =>
    z.string({ error }).regex(/^\d+$/, { error }),
  )
    .optional()
    .openapi({ description: "the next_after_id of the previous page" }),
  limit: positiveInt.openapi({ description: "page size (default 100, at most 1000)" }),
});
const LimitQuery = z.object({
  limit: positiveInt.openapi({ description: "how many (default 100, at most 1000)" }),
});

const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .openapi("ObserverError");
const bad = jsonResponse(ErrorBody, "invalid input (the message names the field and value)");
const tooLarge = jsonResponse(ErrorBody, "body over [observerd].max_event_bytes");
const ObservedOpSchema = z
  .object({
    timestamp: z.string(),
    endpoint: z.string(),
    input_summary: z.string(),
    success: z.boolean(),
    duration_ms: z.number(),
    output_summary: z.string(),
    error: z.string().optional(),
    source: z.enum(SOURCES as [string, ...string[]]).optional(),
    staffer_id: z.string().optional(),
    sig_hash: z.string().optional(),
    event_kind: z.string().optional(),
    role: z.string().optional(),
    city: z.string().optional(),
    state: z.string().optional(),
    count: z.number().optional(),
    rescue_attempted: z.boolean().optional(),
    rescue_succeeded: z.boolean().optional(),
  })
  .openapi("ObservedOp");
const Stats = z.object({
  total: z.number().int(),
  ring_bytes: z.number().int(),
  ring_max_bytes: z.number().int(),
  successes: z.number().int(),
  failures: z.number().int(),
  by_source: z.record(z.string(), z.number().int()),
  recent_scenario_ops: z.array(ObservedOpSchema),
});
const Item = z.record(z.string(), z.unknown());

function limitOf(raw: string | undefined, def: number, max: number): number {
  return raw ? Math.min(Number(raw), max) : def;
}
function timeOf(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  return /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
}

// ---- routes ----

// POST /event: the per-event path, kept to what the durable write needs: the capped body read
// once, then one call to the shard's object, Observer.event, which parses it once
// (depth-checked), validates it with ObservedOpInput and records it. The gateway calls that same
// method directly for POST /v1/observer/event (issue #15), so both answer alike. (The generic
// zod-openapi validator would parse the cached text a second time.) Documented with
// registerPath, as /events is.
api.openAPIRegistry.registerPath({
  method: "post",
  path: "/event",
  summary: "Record one op (written durably, then into the ring)",
  request: {
    body: { required: true, content: { "application/json": { schema: ObservedOpInput } } },
  },
  responses: {
    200: jsonResponse(
      z.object({ accepted: z.literal(true), ring_size: z.number().int(), id: z.number().int() }),
      "recorded",
    ),
    400: bad,
    413: tooLarge,
  },
});
api.post("/event", async (c) => {
  const text = await readBoundedText(
    c,
    lakehouseConfig(c.env).observerd.max_event_bytes,
    "[observerd].max_event_bytes",
  );
  const { stub, shard } = writeShard(c.env, requestKey(c));
  return observerEventResponse(await stub.event(text, null, shard));
});

/** The shard key of a write: the request id (the gateway's, or the caller's X-Request-Id), so a retried request lands on the same shard. */
function requestKey(c: C): string {
  return c.get("requestId") ?? crypto.randomUUID();
}

api.openAPIRegistry.registerPath({
  method: "post",
  path: "/events",
  summary: "Record a batch of ops; each event is validated on its own and gets a result",
  request: { body: { required: true, content: { "application/json": { schema: EventsBody } } } },
  responses: {
    200: jsonResponse(
      z.object({
        accepted: z.number().int(),
        rejected: z.number().int(),
        ring_size: z.number().int(),
        results: z.array(
          z.object({
            index: z.number().int(),
            accepted: z.boolean(),
            id: z.number().int().optional(),
            error: z.object({ code: z.string(), message: z.string() }).optional(),
          }),
        ),
      }),
      "one result per event, in order; only the valid ones are recorded",
    ),
    400: jsonResponse(ErrorBody, "not a batch, or over 10000 events"),
    413: tooLarge,
  },
});
api.post("/events", async (c) => {
  const raw = await cappedJson(c);
  // The envelope is strict (issue #21): {"events": [...]} and nothing else.
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const unknown = Object.keys(raw).filter((k) => k !== "events");
    if (unknown.length > 0)
      throw new LakehouseError(
        "bad_request",
        unknown
          .slice(0, 5)
          .map((k) => `unknown field body.${k}`)
          .join("; "),
      );
  }
  const body = parseWith(EventsEnvelope, raw, "events");
  const events = Array.isArray(body) ? body : body.events;
  const now = new Date();
  const valid: { op: ObservedOp; ts_ms: number }[] = [];
  const results: (
    | { index: number; accepted: true; id?: number }
    | { index: number; accepted: false; error: { code: string; message: string } }
  )[] = [];
  const validIndex: number[] = [];
  events.forEach((e, index) => {
    const n = normalizeOp(e, now, `events[${index}]`);
    if (n.ok) {
      valid.push({ op: n.op, ts_ms: n.ts_ms });
      validIndex.push(results.length);
      results.push({ index, accepted: true });
    } else {
      results.push({ index, accepted: false, error: { code: "bad_request", message: n.message } });
    }
  });
  const w = valid.length > 0 ? writeShard(c.env, requestKey(c)) : undefined;
  const r = w
    ? await w.stub.record(valid, w.shard)
    : { ids: [], ring_size: (await mergedStats(c.env)).total };
  for (const [i, ri] of validIndex.entries()) (results[ri] as { id?: number }).id = r.ids[i];
  return c.json({
    accepted: valid.length,
    rejected: events.length - valid.length,
    ring_size: r.ring_size,
    results,
  });
});

api.openapi(
  createRoute({
    method: "get",
    path: "/stats",
    summary:
      "Counts over the ring (newest ops within [observerd].ring_cap and ring_max_bytes), its bytes, and the last 10 scenario ops, newest last",
    responses: { 200: jsonResponse(Stats, "ring statistics") },
  }),
  async (c) => c.json((await mergedStats(c.env)) as never, 200),
);

api.openapi(
  createRoute({
    method: "get",
    path: "/ops",
    summary: "Query the durable log of ops, oldest first, a page at a time",
    request: { query: OpsQuery },
    responses: {
      200: jsonResponse(
        z.object({
          ops: z.array(ObservedOpSchema.extend({ id: z.number().int() })),
          next_after_id: z.number().int().nullable(),
          count: z.number().int(),
          log_size: z.number().int(),
        }),
        "a page of ops; next_after_id is null on the last page",
      ),
      400: bad,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const r = await mergedOps(c.env, {
      source: q.source || undefined,
      success: q.success === "true" ? true : q.success === "false" ? false : undefined,
      since_ms: timeOf(q.since),
      until_ms: timeOf(q.until),
      after_id: q.after_id ? Number(q.after_id) : undefined,
      limit: limitOf(q.limit, 100, 1000),
    });
    return c.json(
      {
        ops: r.ops,
        next_after_id: r.next_after_id,
        count: r.ops.length,
        log_size: r.log_size,
      } as never,
      200,
    );
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/review",
    summary:
      "Judge an answer against its source: accept, reject or cycle (the LLM, else a heuristic); every verdict kept",
    middleware: [jsonBody],
    request: { body: { required: true, content: { "application/json": { schema: ReviewBody } } } },
    responses: {
      200: jsonResponse(
        z.object({
          id: z.number().int(),
          verdict: z.enum(["accept", "reject", "cycle"]),
          confidence: z.number(),
          notes: z.string(),
          source: z.enum(["llm", "heuristic"]),
          model: z.string().nullable(),
          llm_error: z.string().nullable(),
        }),
        "the verdict",
      ),
      400: bad,
    },
  }),
  async (c) => {
    const input = reviewInput(c.req.valid("json"));
    const v = await review(
      c.env as unknown as LlmEnv & object,
      input,
      lakehouseConfig(c.env).observerd.review_timeout_ms,
    );
    const id = await observerStub(c.env).addReview(input, v);
    return c.json({ id, ...v }, 200);
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/cycle",
    summary:
      "Run one cycle now (as the cron trigger does): corrections, analysis, playbooks, escalations",
    responses: {
      200: jsonResponse(
        z
          .object({
            cycle_id: z.string().optional(),
            trigger: z.string(),
            status: z.enum(["completed", "busy"]),
            started_at: z.string(),
            finished_at: z.string().optional(),
            llm_calls: z.number().int(),
          })
          .passthrough(),
        "what each step did",
      ),
      409: jsonResponse(ErrorBody, "another cycle is running"),
    },
  }),
  async (c) => {
    const s = await runCycle(c.env, "http");
    if (s.status === "busy")
      throw new LakehouseError(
        "conflict",
        `another cycle (${s.busy!.cycle_id}) is running until ${s.busy!.expires_at}`,
        { details: s.busy },
      );
    return c.json(s as never, 200);
  },
);

const LISTS = {
  clusters: "failure clusters (same sig_hash)",
  escalations: "clusters escalated to the LLM (or the heuristic) with their answers",
  reviews: "every review verdict with its input, newest first",
  recommendations: "recommendations written by the cycle",
  cycles: "past cycles and what each did",
} as const;
for (const [kind, what] of Object.entries(LISTS) as [keyof typeof LISTS, string][]) {
  api.openapi(
    createRoute({
      method: "get",
      path: `/${kind}`,
      summary: `The ${what}`,
      request: { query: LimitQuery },
      responses: {
        200: jsonResponse(z.object({ [kind]: z.array(Item), count: z.number().int() }), what),
        400: bad,
      },
    }),
    async (c) => {
      const items: unknown[] = await observerStub(c.env).list(
        kind,
        limitOf(c.req.valid("query").limit, 100, 1000),
      );
      return c.json({ [kind]: items, count: items.length } as never, 200);
    },
  );
}

api.openapi(
  createRoute({
    method: "get",
    path: "/playbooks",
    summary: "Playbooks consolidated from repeated successes",
    request: { query: LimitQuery },
    responses: {
      200: jsonResponse(
        z.object({ playbooks: z.array(Item), count: z.number().int() }),
        "the playbooks",
      ),
      400: bad,
    },
  }),
  async (c) => {
    const items = await observerStub(c.env).listPlaybooks(
      limitOf(c.req.valid("query").limit, 100, 1000),
    );
    return c.json({ playbooks: items, count: items.length } as never, 200);
  },
);

/** The cron trigger: one cycle per tick (a tick that finds a cycle running does nothing). */
export async function scheduled(
  controller: ScheduledController,
  env: Env,
  _ctx: ExecutionContext,
): Promise<void> {
  try {
    const s = await runCycle(env, `cron ${controller.cron}`);
    logger(env, "observer").info(
      `cycle ${s.status}`,
      JSON.stringify({ cycle_id: s.cycle_id, llm_calls: s.llm_calls }),
    );
  } catch (err) {
    logger(env, "observer").error("cycle failed", err);
    throw err;
  }
}

export { Observer } from "./observer";
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;

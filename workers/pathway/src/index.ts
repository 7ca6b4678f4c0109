// lakehouse-pathway: the trace memory. Routes validate and shape; the PathwayMemory
// Durable Object (one instance, SQLite) stores. DESIGN §6 Pathway.
// Every route is declared with `api.openapi(createRoute(...))`: the zod schemas below
// validate the request (a failure is a 400 naming the field) and are what
// GET /pathway/openapi.json documents. The content cap (413) stays in the handlers.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import {
  type AppEnv,
  createServiceApp,
  jsonContentType,
  jsonRequest,
  jsonResponse,
  readJson,
} from "../../../shared/app";
import { badRequest, LakehouseError, payloadTooLarge } from "../../../shared/errors";
import { show } from "../../../shared/field-errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { Failure, Result } from "./pathway-memory";

const { app, api } = createServiceApp<Env>("pathway", "pathway");
type C = Context<AppEnv<Env>>;

/**
 * Route middleware: the body read by the service itself within a byte cap (service bindings
 * bypass the gateway's), JSON deeper than the depth limit refused (readJson). The cap leaves
 * room for the envelope around content of [pathwayd].max_content_bytes, so content over its
 * own cap is still the 413 that names the content.
 */
const jsonBody: MiddlewareHandler<AppEnv<Env>> = async (c, next) => {
  await jsonContentType(c, async () => {
    const cfg = lakehouseConfig(c.env);
    await readJson(
      c,
      Math.max(cfg.gateway.body_caps.pathway, cfg.pathwayd.max_content_bytes + 1024 * 1024),
    );
    await next();
  });
};

function memory(env: Env) {
  return env.PATHWAY_MEMORY.get(env.PATHWAY_MEMORY.idFromName("default"));
}

function unwrap<T>(r: Result<T> | unknown): T {
  if (r && typeof r === "object" && "error" in r) {
    const e = (r as Failure).error;
    throw new LakehouseError(e.code, e.message);
  }
  return r as T;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: a uid may hold no control character; this class names them
const UID_RE = /^[^\u0000-\u001f\u007f]{1,256}$/;

// ---- request schemas (these validate) ----

const uidMessage = (iss: { input?: unknown }) =>
  iss.input === undefined || iss.input === null
    ? "is required"
    : `expected a non-empty string of at most 256 characters without control characters, got ${show(iss.input)}`;
/** A trace uid: 1..256 characters, no control characters. */
const Uid = z
  .string({ error: uidMessage })
  .regex(UID_RE, { error: uidMessage })
  .openapi({ description: "trace uid: 1..256 characters, no control characters" });
const OptionalUid = Uid.nullish();

const tagMessage = (iss: { input?: unknown; path?: readonly PropertyKey[] }) =>
  `expected a non-empty string of at most 256 characters (tags[${String(iss.path?.at(-1) ?? "?")}]), got ${show(iss.input)}`;
const Tags = z
  .array(
    z.string({ error: tagMessage }).min(1, { error: tagMessage }).max(256, { error: tagMessage }),
    {
      error: (iss) => `expected an array of strings, got ${show(iss.input)}`,
    },
  )
  .max(64, {
    error: (iss) => `at most 64 tags, got ${Array.isArray(iss.input) ? iss.input.length : "more"}`,
  })
  .nullish();

/** Any JSON value; stored as its JSON text within [pathwayd].max_content_bytes. */
const Content = z
  .unknown()
  .openapi({ description: "any JSON value (at most [pathwayd].max_content_bytes as JSON text)" });

const AddBody = z.strictObject({
  uid: OptionalUid,
  content: Content,
  tags: Tags,
  predecessor_uid: OptionalUid,
});
const AddIdempotentBody = z.strictObject({ uid: Uid, content: Content, tags: Tags });
const UpdateBody = z.strictObject({ uid: Uid, content: Content.optional(), tags: Tags });
const ReviseBody = z.strictObject({
  predecessor_uid: Uid,
  uid: OptionalUid,
  content: Content,
  tags: Tags,
});
const RetireBody = z.strictObject({ uid: Uid });
const SearchBody = z.strictObject({
  tags: Tags,
  text: z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).nullish(),
  include_retired: z
    .boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` })
    .optional(),
  limit: z
    .number({ error: (iss) => `expected a positive integer, got ${show(iss.input)}` })
    .int({ error: (iss) => `expected a positive integer, got ${show(iss.input)}` })
    .min(1, { error: (iss) => `expected a positive integer, got ${show(iss.input)}` })
    .nullish()
    .openapi({ description: "at most [pathwayd].search_limit (larger values are clipped)" }),
});
const UidParam = z.object({ uid: Uid.openapi({ param: { name: "uid", in: "path" } }) });

// ---- response schemas (documentation) ----

const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("PathwayError");
const Trace = z
  .object({
    uid: z.string(),
    content: z.unknown(),
    tags: z.array(z.string()),
    predecessor_uid: z.string().nullable(),
    retired: z.boolean(),
    replay_count: z.number().int(),
    created_at_ns: z.string(),
    updated_at_ns: z.string(),
  })
  .passthrough()
  .openapi("PathwayTrace");
const errors = {
  400: jsonResponse(ErrorBody, "invalid input (the message names the field)"),
  404: jsonResponse(ErrorBody, "no such trace"),
  413: jsonResponse(ErrorBody, "content over [pathwayd].max_content_bytes"),
};

/** The trace content as JSON text, within [pathwayd].max_content_bytes. */
function contentText(c: C, b: Record<string, unknown>, required: boolean): string | undefined {
  if (!("content" in b)) {
    if (required) throw badRequest("content is required (any JSON value)");
    return undefined;
  }
  const text = JSON.stringify(b.content ?? null);
  const cap = lakehouseConfig(c.env).pathwayd.max_content_bytes;
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > cap)
    throw payloadTooLarge(
      `content is ${bytes} bytes, over the ${cap}-byte cap ([pathwayd].max_content_bytes)`,
    );
  return text;
}

const tagsOf = (t: string[] | null | undefined) => t ?? undefined;

api.openapi(
  createRoute({
    method: "post",
    path: "/add",
    summary: "Add a trace (a new uid is generated when none is given); 409 when the uid exists",
    middleware: [jsonBody],
    request: { body: jsonRequest(AddBody) },
    responses: {
      200: jsonResponse(Trace, "the stored trace"),
      ...errors,
      409: jsonResponse(ErrorBody, "the uid exists"),
    },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const content = contentText(c, b, true)!;
    const uid = b.uid ?? crypto.randomUUID();
    return c.json(
      unwrap(
        await memory(c.env).add(uid, content, tagsOf(b.tags), b.predecessor_uid ?? undefined),
      ) as never,
    );
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/add_idempotent",
    summary: "Add a trace, or count a replay of an existing uid (content unchanged)",
    middleware: [jsonBody],
    request: { body: jsonRequest(AddIdempotentBody) },
    responses: {
      200: jsonResponse(
        Trace.extend({ replayed: z.boolean() }),
        "the stored trace; replayed says whether it existed",
      ),
      ...errors,
    },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const content = contentText(c, b, true)!;
    return c.json((await memory(c.env).addIdempotent(b.uid, content, tagsOf(b.tags))) as never);
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/update",
    summary: "Replace a trace's content and/or tags",
    middleware: [jsonBody],
    request: { body: jsonRequest(UpdateBody) },
    responses: { 200: jsonResponse(Trace, "the updated trace"), ...errors },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const content = contentText(c, b, false);
    const tags = tagsOf(b.tags);
    if (content === undefined && tags === undefined)
      throw badRequest("update needs content or tags");
    return c.json(unwrap(await memory(c.env).update(b.uid, content, tags)) as never);
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/revise",
    summary: "Add a new trace that revises predecessor_uid",
    middleware: [jsonBody],
    request: { body: jsonRequest(ReviseBody) },
    responses: {
      200: jsonResponse(Trace, "the new trace"),
      ...errors,
      409: jsonResponse(ErrorBody, "the uid exists"),
    },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const content = contentText(c, b, true)!;
    const uid = b.uid ?? crypto.randomUUID();
    return c.json(
      unwrap(await memory(c.env).revise(b.predecessor_uid, uid, content, tagsOf(b.tags))) as never,
    );
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/retire",
    summary: "Retire a trace: hidden from search, still gettable",
    middleware: [jsonBody],
    request: { body: jsonRequest(RetireBody) },
    responses: { 200: jsonResponse(Trace, "the retired trace"), ...errors },
  }),
  async (c) => c.json(unwrap(await memory(c.env).retire(c.req.valid("json").uid)) as never),
);

async function getTrace(c: C, uid: string): Promise<Response> {
  return c.json(unwrap(await memory(c.env).get(uid)) as never);
}
async function traceHistory(c: C, uid: string): Promise<Response> {
  const depth = lakehouseConfig(c.env).pathwayd.history_max_depth;
  return c.json(unwrap(await memory(c.env).history(uid, depth)) as never);
}

const History = z
  .object({
    traces: z.array(Trace),
    complete: z.boolean(),
    stopped: z.string().optional(),
    missing_uid: z.string().optional(),
  })
  .passthrough();
api.openapi(
  createRoute({
    method: "get",
    path: "/get/{uid}",
    summary: "One trace by uid (retired ones too)",
    request: { params: UidParam },
    responses: { 200: jsonResponse(Trace, "the trace"), ...errors },
  }),
  async (c) => getTrace(c as unknown as C, c.req.valid("param").uid) as never,
);
api.openapi(
  createRoute({
    method: "get",
    path: "/history/{uid}",
    summary: "The trace and its predecessors, newest first, to [pathwayd].history_max_depth",
    request: { params: UidParam },
    responses: {
      200: jsonResponse(
        History,
        "the chain; complete is false at a cycle or a missing predecessor",
      ),
      ...errors,
    },
  }),
  async (c) => traceHistory(c as unknown as C, c.req.valid("param").uid) as never,
);
// A uid may contain "/": the documented routes above take one path segment, these the rest
// (same schema, same handlers).
api.get("/get/:uid{.+}", async (c) => getTrace(c, parseUidParam(c.req.param("uid"))));
api.get("/history/:uid{.+}", async (c) => traceHistory(c, parseUidParam(c.req.param("uid"))));
function parseUidParam(uid: string): string {
  const r = UidParam.safeParse({ uid });
  if (!r.success) throw badRequest(`param.uid: ${r.error.issues[0]?.message ?? "invalid"}`);
  return r.data.uid;
}

api.openapi(
  createRoute({
    method: "post",
    path: "/search",
    summary:
      "Active traces (retired too with include_retired) having every tag and containing text, newest first",
    middleware: [jsonBody],
    request: { body: jsonRequest(SearchBody) },
    responses: {
      200: jsonResponse(
        z.object({ traces: z.array(Trace), count: z.number().int() }),
        "matching traces",
      ),
      400: errors[400],
    },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const max = lakehouseConfig(c.env).pathwayd.search_limit;
    const limit = b.limit == null ? max : Math.min(b.limit, max);
    const traces: unknown[] = await memory(c.env).search({
      tags: tagsOf(b.tags),
      text: b.text || undefined,
      include_retired: b.include_retired === true,
      limit,
    });
    return c.json({ traces, count: traces.length } as never);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/stats",
    summary: "Trace counts",
    responses: {
      200: jsonResponse(
        z.object({ total: z.number().int(), active: z.number().int(), retired: z.number().int() }),
        "counts",
      ),
    },
  }),
  async (c) => c.json((await memory(c.env).stats()) as never),
);

export { PathwayMemory } from "./pathway-memory";
export default app satisfies ExportedHandler<Env>;

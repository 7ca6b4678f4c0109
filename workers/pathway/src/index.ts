// lakehouse-pathway: the trace memory. Routes validate and shape; the PathwayMemory
// Durable Object (one instance, SQLite) stores. DESIGN §6 Pathway.
import type { Context } from "hono";
import { createServiceApp, readJsonObject, type AppEnv } from "../../../shared/app";
import { LakehouseError, badRequest, payloadTooLarge } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { Failure, Result } from "./pathwayMemory";

const { app, api } = createServiceApp<Env>("pathway", "pathway");
type C = Context<AppEnv<Env>>;

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

const UID_RE = /^[^\u0000-\u001f\u007f]{1,256}$/;

function uidField(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required) throw badRequest(`${field} is required`);
    return undefined;
  }
  if (typeof v !== "string" || !UID_RE.test(v)) {
    throw badRequest(`${field}: expected a non-empty string of at most 256 characters without control characters, got ${JSON.stringify(v)}`);
  }
  return v;
}

function tagsField(body: Record<string, unknown>): string[] | undefined {
  const v = body.tags;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw badRequest(`tags: expected an array of strings, got ${JSON.stringify(v)}`);
  if (v.length > 64) throw badRequest(`tags: at most 64 tags, got ${v.length}`);
  v.forEach((t, i) => {
    if (typeof t !== "string" || t.length === 0 || t.length > 256) throw badRequest(`tags[${i}]: expected a non-empty string of at most 256 characters, got ${JSON.stringify(t)}`);
  });
  return v as string[];
}

/** The trace content as JSON text, within [pathwayd].max_content_bytes. */
function contentField(c: C, body: Record<string, unknown>, required: boolean): string | undefined {
  if (!("content" in body)) {
    if (required) throw badRequest("content is required (any JSON value)");
    return undefined;
  }
  const text = JSON.stringify(body.content ?? null);
  const cap = lakehouseConfig(c.env).pathwayd.max_content_bytes;
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > cap) throw payloadTooLarge(`content is ${bytes} bytes, over the ${cap}-byte cap ([pathwayd].max_content_bytes)`);
  return text;
}

api.post("/add", async (c) => {
  const body = await readJsonObject(c);
  const uid = uidField(body, "uid", false) ?? crypto.randomUUID();
  const content = contentField(c, body, true)!;
  const tags = tagsField(body);
  const predecessor = uidField(body, "predecessor_uid", false);
  return c.json(unwrap(await memory(c.env).add(uid, content, tags, predecessor)));
});

api.post("/add_idempotent", async (c) => {
  const body = await readJsonObject(c);
  const uid = uidField(body, "uid", true)!;
  const content = contentField(c, body, true)!;
  return c.json(await memory(c.env).addIdempotent(uid, content, tagsField(body)));
});

api.post("/update", async (c) => {
  const body = await readJsonObject(c);
  const uid = uidField(body, "uid", true)!;
  const content = contentField(c, body, false);
  const tags = tagsField(body);
  if (content === undefined && tags === undefined) throw badRequest("update needs content or tags");
  return c.json(unwrap(await memory(c.env).update(uid, content, tags)));
});

api.post("/revise", async (c) => {
  const body = await readJsonObject(c);
  const predecessor = uidField(body, "predecessor_uid", true)!;
  const uid = uidField(body, "uid", false) ?? crypto.randomUUID();
  const content = contentField(c, body, true)!;
  return c.json(unwrap(await memory(c.env).revise(predecessor, uid, content, tagsField(body))));
});

api.post("/retire", async (c) => {
  const body = await readJsonObject(c);
  return c.json(unwrap(await memory(c.env).retire(uidField(body, "uid", true)!)));
});

api.get("/get/:uid{.+}", async (c) => c.json(unwrap(await memory(c.env).get(c.req.param("uid")))));

api.get("/history/:uid{.+}", async (c) => {
  const depth = lakehouseConfig(c.env).pathwayd.history_max_depth;
  return c.json(unwrap(await memory(c.env).history(c.req.param("uid"), depth)));
});

api.post("/search", async (c) => {
  const body = await readJsonObject(c);
  const max = lakehouseConfig(c.env).pathwayd.search_limit;
  let limit = max;
  if (body.limit !== undefined && body.limit !== null) {
    if (typeof body.limit !== "number" || !Number.isInteger(body.limit) || body.limit < 1) {
      throw badRequest(`limit: expected a positive integer, got ${JSON.stringify(body.limit)}`);
    }
    limit = Math.min(body.limit, max);
  }
  if (body.text !== undefined && body.text !== null && typeof body.text !== "string") {
    throw badRequest(`text: expected a string, got ${JSON.stringify(body.text)}`);
  }
  if (body.include_retired !== undefined && typeof body.include_retired !== "boolean") {
    throw badRequest(`include_retired: expected true or false, got ${JSON.stringify(body.include_retired)}`);
  }
  const traces: unknown[] = await memory(c.env).search({
    tags: tagsField(body),
    text: (body.text as string | undefined) || undefined,
    include_retired: body.include_retired === true,
    limit,
  });
  return c.json({ traces, count: traces.length });
});

api.get("/stats", async (c) => c.json(await memory(c.env).stats()));

export { PathwayMemory } from "./pathwayMemory";
export default app satisfies ExportedHandler<Env>;

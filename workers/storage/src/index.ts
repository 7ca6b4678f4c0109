// lakehouse-storage: the R2 bucket LAKE behind /storage (DESIGN §6 Storage).
//   PUT/GET/HEAD/DELETE /storage/objects/<key>   (Range, ETag, If-None-Match)
//   GET /storage/list?prefix=&cursor=&limit=
//   POST /storage/multipart/<key> · PUT …?upload_id=&part=N · POST …/complete?upload_id= · DELETE …?upload_id=
// Per-prefix size caps are checked from the declared length before the body is read.
import type { Context } from "hono";
import { type AppEnv, createServiceApp, readJsonObject } from "../../../shared/app";
import { gatewayBodyCap } from "../../../shared/body-cap";
import { LakehouseError } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { keyFromPath, validateKey } from "./keys";
import {
  CompleteBody,
  DeleteBody,
  documentStorage,
  ListQuery,
  PartQuery,
  parseWith,
  UploadQuery,
} from "./openapi";
import { putUnknownLength } from "./put-stream";

const { app, api } = createServiceApp<Env>("storage", "storage");
documentStorage(api);
type C = Context<AppEnv<Env>>;

const VECTORS_PREFIX = "_vectors/";

/** The size cap of an object under `key` (DESIGN: 256 MiB by default, 4 GiB under _vectors/). */
function capFor(env: Env, key: string): number {
  const cfg = lakehouseConfig(env).storaged;
  return key.startsWith(VECTORS_PREFIX) ? cfg.max_vectors_put_bytes : cfg.max_put_bytes;
}

/** The config key of the cap of `key`. */
function capKey(key: string): string {
  return key.startsWith(VECTORS_PREFIX)
    ? "[storaged].max_vectors_put_bytes"
    : "[storaged].max_put_bytes";
}

function declaredLength(c: C): number | undefined {
  const raw = c.req.header("content-length");
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()))
    throw new LakehouseError("bad_request", `invalid Content-Length ${JSON.stringify(raw)}`);
  return Number(raw);
}

function checkDeclared(c: C, key: string, cap: number): number | undefined {
  const len = declaredLength(c);
  if (len !== undefined && len > cap) {
    throw new LakehouseError(
      "payload_too_large",
      `object ${JSON.stringify(key)} of ${len} bytes exceeds the cap of ${cap} bytes for its prefix (${capKey(key)})`,
    );
  }
  return len;
}

function putOptions(c: C): R2PutOptions {
  const type = c.req.header("content-type");
  return type ? { httpMetadata: { contentType: type } } : {};
}

// ---- objects ---------------------------------------------------------------------------

api.put("/objects/*", async (c) => {
  const key = keyFromPath(c.req.url, "/storage/objects/");
  const cap = capFor(c.env, key);
  const len = checkDeclared(c, key, cap);
  const body = c.req.raw.body;
  if (len !== undefined || body === null) {
    const obj = await c.env.LAKE.put(key, body ?? new Uint8Array(0), putOptions(c));
    return c.json({ key, size: obj!.size, etag: obj!.etag });
  }
  // Through the gateway with no declared length: the gateway's cap too (it passes on the
  // chunk that crosses it, so a body it cut is over that cap here and is never committed).
  const viaGateway = gatewayBodyCap(c.req.raw.headers);
  const limit =
    viaGateway !== undefined && viaGateway < cap
      ? { cap: viaGateway, key: "[gateway.body_caps].storage" }
      : { cap, key: capKey(key) };
  return c.json(await putUnknownLength(c.env.LAKE, key, body, limit.cap, putOptions(c), limit.key));
});

function objectHeaders(obj: R2Object): Headers {
  const headers = new Headers();
  obj.writeHttpMetadata(headers);
  headers.set("etag", obj.httpEtag);
  headers.set("accept-ranges", "bytes");
  headers.set("last-modified", obj.uploaded.toUTCString());
  if (!headers.has("content-type")) headers.set("content-type", "application/octet-stream");
  return headers;
}

function etagMatches(ifNoneMatch: string | undefined, obj: R2Object): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(",")
    .map((t) => t.trim().replace(/^W\//, ""))
    .some((t) => t === "*" || t === obj.httpEtag || t === obj.etag);
}

/** Resolves a Range header against `size`; undefined = whole object; throws 416 when unsatisfiable. */
function parseRange(
  header: string | undefined,
  size: number,
  key: string,
): { offset: number; length: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) {
    throw new LakehouseError(
      "bad_request",
      `invalid Range header ${JSON.stringify(header)}: expected bytes=start-end, bytes=start- or bytes=-suffix`,
    );
  }
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) {
    throw new LakehouseError(
      "range_not_satisfiable",
      `Range ${header} is outside object ${JSON.stringify(key)} of ${size} bytes`,
      {
        status: 416,
      },
    );
  }
  return { offset: start, length: end - start + 1 };
}

api.get("/objects/*", async (c) => {
  const key = keyFromPath(c.req.url, "/storage/objects/");
  const head = await c.env.LAKE.head(key);
  if (!head) throw new LakehouseError("not_found", `object ${JSON.stringify(key)} not found`);
  const headers = objectHeaders(head);
  if (etagMatches(c.req.header("if-none-match"), head))
    return new Response(null, { status: 304, headers });
  const range = parseRange(c.req.header("range"), head.size, key);
  if (c.req.method === "HEAD") {
    headers.set("content-length", String(head.size));
    return new Response(null, { status: 200, headers });
  }
  // Read the version we just looked at: if the object changed in between, answer as if it did not exist yet.
  const obj = await c.env.LAKE.get(key, {
    ...(range ? { range } : {}),
    onlyIf: { etagMatches: head.etag },
  });
  if (!obj || !("body" in obj))
    throw new LakehouseError(
      "conflict",
      `object ${JSON.stringify(key)} changed while being read; retry`,
    );
  if (range) {
    headers.set(
      "content-range",
      `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`,
    );
    headers.set("content-length", String(range.length));
    return new Response(obj.body, { status: 206, headers });
  }
  headers.set("content-length", String(head.size));
  return new Response(obj.body, { status: 200, headers });
});

api.delete("/objects/*", async (c) => {
  const key = keyFromPath(c.req.url, "/storage/objects/");
  await c.env.LAKE.delete(key);
  return c.body(null, 204);
});

// Bulk delete, used by the catalog when a dataset goes: {"keys":[...]} → {"deleted":N}.
api.post("/delete", async (c) => {
  const body = await readJsonObject(c);
  const keys = body.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "string")) {
    throw new LakehouseError("bad_request", "body.keys: expected an array of object keys");
  }
  const valid = parseWith(DeleteBody, body, "body").keys.map(validateKey);
  for (let i = 0; i < valid.length; i += 1000) await c.env.LAKE.delete(valid.slice(i, i + 1000));
  return c.json({ deleted: valid.length });
});

// ---- list ------------------------------------------------------------------------------

api.get("/list", async (c) => {
  const max = lakehouseConfig(c.env).storaged.list_max_limit;
  const limitText = c.req.query("limit");
  let limit = max;
  if (limitText !== undefined && limitText !== "") {
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > max) {
      throw new LakehouseError(
        "bad_request",
        `limit: expected an integer from 1 to ${max}, got ${JSON.stringify(limitText)}`,
      );
    }
    limit = Number(limitText);
  }
  const query = parseWith(ListQuery, c.req.query(), "query");
  const prefix = query.prefix || undefined;
  const cursor = query.cursor || undefined;
  let listed: R2Objects;
  try {
    listed = await c.env.LAKE.list({ prefix, cursor, limit });
  } catch (err) {
    if (cursor)
      throw new LakehouseError(
        "bad_request",
        `cursor: not a cursor from an earlier /list answer (${(err as Error).message})`,
      );
    throw err;
  }
  return c.json({
    objects: listed.objects.map((o) => ({
      key: o.key,
      size: o.size,
      etag: o.etag,
      uploaded: o.uploaded.toISOString(),
    })),
    cursor: listed.truncated ? listed.cursor : null,
    truncated: listed.truncated,
  });
});

// ---- multipart -------------------------------------------------------------------------

function uploadId(c: C): string {
  const id = c.req.query("upload_id");
  if (!id) throw new LakehouseError("bad_request", "upload_id: missing query parameter");
  return parseWith(UploadQuery, c.req.query(), "query").upload_id;
}

async function uploadCall<T>(
  what: string,
  key: string,
  id: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/upload|not.?found|NoSuchUpload|10024/i.test(msg)) {
      throw new LakehouseError(
        "not_found",
        `${what}: upload_id ${JSON.stringify(id)} is not an open upload of ${JSON.stringify(key)} (${msg})`,
      );
    }
    throw new LakehouseError("bad_request", `${what} of ${JSON.stringify(key)} failed: ${msg}`);
  }
}

api.post("/multipart/*", async (c) => {
  const path = new URL(c.req.url).pathname;
  if (c.req.query("upload_id") !== undefined && path.endsWith("/complete")) {
    const key = keyFromPath(c.req.url, "/storage/multipart/", "/complete");
    const id = uploadId(c);
    const body = await readJsonObject(c);
    if (!Array.isArray(body.parts) || body.parts.length === 0) {
      throw new LakehouseError(
        "bad_request",
        "body.parts: expected a non-empty array of {part_number, etag}",
      );
    }
    (body.parts as unknown[]).forEach((p, i) => {
      const part = p as { part_number?: unknown; etag?: unknown };
      if (!Number.isInteger(part?.part_number) || typeof part?.etag !== "string") {
        throw new LakehouseError(
          "bad_request",
          `body.parts[${i}]: expected {part_number: integer, etag: string}`,
        );
      }
    });
    const parts = parseWith(CompleteBody, body, "body").parts.map((p) => ({
      partNumber: p.part_number,
      etag: p.etag,
    }));
    const upload = c.env.LAKE.resumeMultipartUpload(key, id);
    const obj = await uploadCall("complete", key, id, () => upload.complete(parts));
    const cap = capFor(c.env, key);
    if (obj.size > cap) {
      await c.env.LAKE.delete(key);
      throw new LakehouseError(
        "payload_too_large",
        `object ${JSON.stringify(key)} of ${obj.size} bytes exceeds the cap of ${cap} bytes for its prefix; the upload was discarded`,
      );
    }
    return c.json({ key, size: obj.size, etag: obj.etag });
  }
  const key = keyFromPath(c.req.url, "/storage/multipart/");
  const upload = await c.env.LAKE.createMultipartUpload(key, putOptions(c));
  return c.json({ key, upload_id: upload.uploadId });
});

api.put("/multipart/*", async (c) => {
  const key = keyFromPath(c.req.url, "/storage/multipart/");
  const id = uploadId(c);
  const partText = c.req.query("part") ?? "";
  if (!/^\d+$/.test(partText) || Number(partText) < 1 || Number(partText) > 10000) {
    throw new LakehouseError(
      "bad_request",
      `part: expected an integer from 1 to 10000, got ${JSON.stringify(partText)}`,
    );
  }
  parseWith(PartQuery, c.req.query(), "query");
  const viaGateway = gatewayBodyCap(c.req.raw.headers);
  const cap = Math.min(capFor(c.env, key), viaGateway ?? Infinity);
  const len = checkDeclared(c, key, cap);
  // A part needs a known length: with none declared it is read into memory (bounded by the cap).
  let body: ReadableStream | ArrayBuffer = c.req.raw.body ?? new ArrayBuffer(0);
  if (len === undefined) {
    const buf = await c.req.arrayBuffer();
    if (buf.byteLength > cap)
      throw new LakehouseError(
        "payload_too_large",
        `part of ${JSON.stringify(key)} exceeds the cap of ${cap} bytes`,
      );
    body = buf;
  }
  const upload = c.env.LAKE.resumeMultipartUpload(key, id);
  const part = await uploadCall("upload part", key, id, () =>
    upload.uploadPart(Number(partText), body),
  );
  return c.json({ part_number: part.partNumber, etag: part.etag });
});

api.delete("/multipart/*", async (c) => {
  const key = keyFromPath(c.req.url, "/storage/multipart/");
  const id = uploadId(c);
  const upload = c.env.LAKE.resumeMultipartUpload(key, id);
  await uploadCall("abort", key, id, () => upload.abort());
  return c.body(null, 204);
});

export default app satisfies ExportedHandler<Env>;

// OpenAPI entries of the storage routes. The routes take keys with slashes (a hono
// wildcard), so they are registered here rather than with createRoute. The JSON bodies
// and query parameters are parsed in the handlers with these same schema objects;
// the raw byte bodies (object PUT, multipart parts) are streamed and not zod-validated.

import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";

const Err = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("StorageError");
const errors = (what: string) => ({
  description: what,
  content: { "application/json": { schema: Err } },
});

/** The object key: percent-encoded, "/" may be literal (the route is `/objects/<key...>`). */
export const KeyParams = z.object({
  key: z.string().min(1).openapi({
    description:
      'object key (1..1024 bytes of UTF-8, may contain "/"; percent-encode each segment)',
    example: "datasets/people/a.parquet",
  }),
});

export const ListQuery = z.object({
  prefix: z.string().optional().openapi({ description: "only keys starting with this prefix" }),
  cursor: z
    .string()
    .optional()
    .openapi({ description: "the cursor of an earlier, truncated answer" }),
  limit: z.string().regex(/^\d*$/, "expected an integer").optional().openapi({
    description: "page size, 1 to storaged.list_max_limit (default: the maximum)",
    example: "100",
  }),
});

export const DeleteBody = z.object({ keys: z.array(z.string()) });

export const UploadQuery = z.object({
  upload_id: z
    .string()
    .min(1)
    .openapi({ description: "the upload_id from POST /storage/multipart/{key}" }),
});

export const PartQuery = UploadQuery.extend({
  part: z
    .string()
    .regex(/^\d+$/, "expected an integer from 1 to 10000")
    .openapi({ description: "part number, 1 to 10000", example: "1" }),
});

export const CompleteBody = z.strictObject({
  parts: z.array(z.strictObject({ part_number: z.number().int(), etag: z.string() })).min(1),
});

const PutResult = z.object({ key: z.string(), size: z.number().int(), etag: z.string() });
const bytes = z.string().openapi({ format: "binary" });
const HEADER_RANGE = z.object({
  range: z
    .string()
    .optional()
    .openapi({ description: "bytes=start-end, bytes=start- or bytes=-suffix" }),
  "if-none-match": z.string().optional().openapi({ description: "ETag(s); a match answers 304" }),
});
const HEADER_LENGTH = z.object({
  "content-length": z.string().optional().openapi({
    description: "declared length; over the prefix's cap is a 413 before the body is read",
  }),
  "content-type": z
    .string()
    .optional()
    .openapi({ description: "stored as the object's content type" }),
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function documentStorage(api: OpenAPIHono<any>): void {
  const r = api.openAPIRegistry;
  r.registerPath({
    method: "put",
    path: "/objects/{key}",
    summary: "Store an object (streamed; per-prefix size cap checked from the declared length)",
    request: {
      params: KeyParams,
      headers: HEADER_LENGTH,
      body: { required: false, content: { "application/octet-stream": { schema: bytes } } },
    },
    responses: {
      200: { description: "stored", content: { "application/json": { schema: PutResult } } },
      400: errors("invalid key or Content-Length"),
      413: errors("over the cap for the key's prefix"),
    },
  });
  r.registerPath({
    method: "get",
    path: "/objects/{key}",
    summary: "Read an object (Range, ETag, If-None-Match)",
    request: { params: KeyParams, headers: HEADER_RANGE },
    responses: {
      200: {
        description: "the object's bytes",
        content: { "application/octet-stream": { schema: bytes } },
      },
      206: {
        description: "the requested range",
        content: { "application/octet-stream": { schema: bytes } },
      },
      304: { description: "If-None-Match matched" },
      400: errors("invalid key or Range"),
      404: errors("no such object"),
      416: errors("Range outside the object"),
    },
  });
  r.registerPath({
    method: "head",
    path: "/objects/{key}",
    summary: "An object's length, type and ETag",
    request: { params: KeyParams, headers: HEADER_RANGE },
    responses: {
      200: { description: "headers only" },
      304: { description: "If-None-Match matched" },
      404: { description: "no such object" },
    },
  });
  r.registerPath({
    method: "delete",
    path: "/objects/{key}",
    summary: "Delete an object (idempotent)",
    request: { params: KeyParams },
    responses: { 204: { description: "deleted (or was absent)" }, 400: errors("invalid key") },
  });
  r.registerPath({
    method: "post",
    path: "/delete",
    summary: "Delete many objects at once",
    request: { body: { required: true, content: { "application/json": { schema: DeleteBody } } } },
    responses: {
      200: {
        description: "how many keys were deleted",
        content: { "application/json": { schema: z.object({ deleted: z.number().int() }) } },
      },
      400: errors("bad body or key"),
    },
  });
  r.registerPath({
    method: "get",
    path: "/list",
    summary: "List objects by prefix, a page at a time",
    request: { query: ListQuery },
    responses: {
      200: {
        description: "a page of objects; cursor is null on the last page",
        content: {
          "application/json": {
            schema: z.object({
              objects: z.array(
                z.object({
                  key: z.string(),
                  size: z.number().int(),
                  etag: z.string(),
                  uploaded: z.string(),
                }),
              ),
              cursor: z.string().nullable(),
              truncated: z.boolean(),
            }),
          },
        },
      },
      400: errors("bad limit or cursor"),
    },
  });
  r.registerPath({
    method: "post",
    path: "/multipart/{key}",
    summary: "Start a multipart upload",
    request: { params: KeyParams, headers: z.object({ "content-type": z.string().optional() }) },
    responses: {
      200: {
        description: "the upload id",
        content: {
          "application/json": { schema: z.object({ key: z.string(), upload_id: z.string() }) },
        },
      },
      400: errors("invalid key"),
    },
  });
  r.registerPath({
    method: "put",
    path: "/multipart/{key}",
    summary: "Upload one part of a multipart upload (raw bytes)",
    request: {
      params: KeyParams,
      query: PartQuery,
      headers: HEADER_LENGTH.pick({ "content-length": true }),
      body: { required: true, content: { "application/octet-stream": { schema: bytes } } },
    },
    responses: {
      200: {
        description: "the part's etag, for complete",
        content: {
          "application/json": {
            schema: z.object({ part_number: z.number().int(), etag: z.string() }),
          },
        },
      },
      400: errors("bad upload_id or part"),
      404: errors("no such open upload"),
      413: errors("over the cap for the key's prefix"),
    },
  });
  r.registerPath({
    method: "post",
    path: "/multipart/{key}/complete",
    summary: "Complete a multipart upload",
    request: {
      params: KeyParams,
      query: UploadQuery,
      body: { required: true, content: { "application/json": { schema: CompleteBody } } },
    },
    responses: {
      200: {
        description: "the stored object",
        content: { "application/json": { schema: PutResult } },
      },
      400: errors("bad body"),
      404: errors("no such open upload"),
      413: errors("over the cap; discarded"),
    },
  });
  r.registerPath({
    method: "delete",
    path: "/multipart/{key}",
    summary: "Abort a multipart upload",
    request: { params: KeyParams, query: UploadQuery },
    responses: { 204: { description: "aborted" }, 404: errors("no such open upload") },
  });
}

/** Parses `value` with a registered schema; a failure is a 400 naming the field (shared/app.ts). */
export { parseWith } from "../../../shared/app";

// Zod validation failures worded like the hand-written checks they replaced: the first issue
// only, as `<field>: <message>` with the field written the way a caller would index it
// (`items[3].vector[5]`, `metadata_filter.kind`). Used by routes whose schemas validate the
// request and are also what the service's OpenAPI document shows (embed, matrix, vectors).
import type { z } from "@hono/zod-openapi";
import { badRequest } from "./errors";

/** A value as a message shows it: JSON where it has one (`"x"`, `5`, `null`), else `undefined`. */
export const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** A zod issue path as a field name: `items[3].vector[5]`, `metadata_filter.kind`. */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

type Issue = { path: readonly PropertyKey[]; message: string };

/** The first issue as `<field>: <message>` (just the message when it is about the whole body). */
export function firstIssueMessage(issues: readonly Issue[]): string {
  const first = issues[0];
  if (!first) return "invalid request";
  const field = fieldName(first.path);
  return field === "" ? first.message : `${field}: ${first.message}`;
}

/** Parses `value` with `schema`; a failure is a 400 worded by firstIssueMessage. */
export function parseFields<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(firstIssueMessage(result.error.issues));
  return result.data;
}

/**
 * The hook for `api.openapi(createRoute(...), handler, fieldErrors)`: a request the route's
 * schemas reject is a 400 worded by firstIssueMessage (rather than the app's default
 * `body.items.3.vector.5: ...; ...` list of every issue).
 */
export function fieldErrors(result: { success: boolean; error?: { issues: readonly Issue[] } }): undefined {
  if (!result.success) throw badRequest(firstIssueMessage(result.error?.issues ?? []));
  return undefined;
}

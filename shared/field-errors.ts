// The one wording of a failed validation, for every route and every schema parse: each zod
// issue as `<field>: <message>` (at most 5, joined by "; "), the field written the way a
// caller would index it (`items[3].vector[5]`, `metadata_filter.kind`), prefixed with where
// the fields are when the caller names it (`body.schema[0].type`, `query.limit`,
// `events[3].endpoint`). The schemas' own messages name the value (`expected a number, got "x"`,
// with `show`). Used by the app factory's validation hook and parseWith (shared/app.ts), and
// by the `fieldErrors` hook of routes whose fields are named without a prefix, as their
// hand-written checks are (embed, matrix, vectors: `texts[1]: empty text`). Request bodies are
// strict objects (issue #21): a field no schema names is `unknown field body.foo`
// (`unknown field body.items[2].foo`), never silently dropped.
import { badRequest } from "./errors";

/** A value as a message shows it: JSON where it has one (`"x"`, `5`, `null`), else `undefined`. */
export const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** A zod issue path as a field name: `items[3].vector[5]`, `metadata_filter.kind`; after `where` when given (`body.k`, `events[3].x`). */
export function fieldName(path: readonly PropertyKey[], where = ""): string {
  let out = where;
  for (const p of path)
    out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

type Issue = {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  keys?: readonly string[];
};

/** How many issues one message lists. */
const MAX_ISSUES = 5;

/**
 * Zod issues as one message: `<field>: <message>` each, joined by "; " (just the message for
 * an issue about the whole value when there is no `where`).
 */
export function describeIssues(issues: readonly Issue[], where?: string): string {
  if (issues.length === 0) return where ? `${where}: invalid` : "invalid request";
  return issues
    .flatMap((i): string[] => {
      // A strict object's unknown fields (issue #21): `unknown field body.foo`, one per field,
      // whatever error text the object schema carries for its other issues. A caller that
      // names no place for the fields is a JSON body route (fieldErrors): "body".
      if (i.code === "unrecognized_keys" && i.keys?.length)
        return i.keys.map((k) => `unknown field ${fieldName([...i.path, k], where || "body")}`);
      const field = fieldName(i.path, where);
      return [field === "" ? i.message : `${field}: ${i.message}`];
    })
    .slice(0, MAX_ISSUES)
    .join("; ");
}

/**
 * The hook for `api.openapi(createRoute(...), handler, fieldErrors)`: a request the route's
 * schemas reject is a 400 worded by describeIssues with the fields unprefixed (`texts[1]: ...`
 * rather than the app's default `body.texts[1]: ...`).
 */
export function fieldErrors(result: {
  success: boolean;
  error?: { issues: readonly Issue[] };
}): undefined {
  if (!result.success) throw badRequest(describeIssues(result.error?.issues ?? []));
  return undefined;
}

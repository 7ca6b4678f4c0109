// The public API table: the only requests the gateway forwards. Every service also serves
// routes for other services (change notifications, registration, bulk delete, cache state);
// those are reachable through service bindings only, never through /v1. A request is matched
// on its normalised path (each segment percent-decoded once, `.`/`..` refused) and forwarded
// with exactly that path re-encoded, so what is checked here is what the service routes on.
//
// Paths are as seen at the gateway after /v1. `{x}` is one segment, `{x+}` one or more
// (a storage key may contain "/"). HEAD is allowed wherever GET is.

import { SERVICES } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";

export type Method = "GET" | "HEAD" | "PUT" | "POST" | "DELETE";

export interface PublicRoute {
  methods: Method[];
  path: string;
  /** Why it is public when DESIGN §6 does not list it. */
  note?: string;
}

/** DESIGN §6, as amended by issue #12 (POST /catalog/register is internal: only ingest registers). */
export const PUBLIC_ROUTES: PublicRoute[] = [
  // storage
  { methods: ["GET", "HEAD", "PUT", "DELETE"], path: "/storage/objects/{key+}" },
  { methods: ["GET"], path: "/storage/list" },
  { methods: ["POST", "PUT", "DELETE"], path: "/storage/multipart/{key+}" }, // also POST …/{key}/complete
  // catalog
  { methods: ["GET", "DELETE"], path: "/catalog/manifest/{name}" },
  { methods: ["GET"], path: "/catalog/history/{name}" },
  { methods: ["GET"], path: "/catalog/list" },
  { methods: ["POST"], path: "/catalog/compact/{name}" },
  {
    methods: ["GET"],
    path: "/catalog/stats",
    note: "counts and database bytes (catalog storage is linear in files), an addition to DESIGN §6",
  },
  // iceberg: the REST catalog protocol's read side (served by the catalog Worker); a client's catalog URI is <gateway>/v1/iceberg
  { methods: ["GET"], path: "/iceberg/v1/config" },
  { methods: ["GET"], path: "/iceberg/v1/namespaces" },
  { methods: ["GET"], path: "/iceberg/v1/namespaces/{namespace}" },
  { methods: ["GET"], path: "/iceberg/v1/namespaces/{namespace}/tables" },
  { methods: ["GET"], path: "/iceberg/v1/namespaces/{namespace}/tables/{table}" },
  // ingest
  { methods: ["POST"], path: "/ingest" },
  { methods: ["POST"], path: "/ingest/", note: "trailing slash" },
  {
    methods: ["POST"],
    path: "/ingest/ingest",
    note: "alias kept for clients of the first TypeScript releases",
  },
  // sql
  { methods: ["POST"], path: "/sql" },
  { methods: ["POST"], path: "/sql/", note: "trailing slash" },
  // embed
  { methods: ["POST"], path: "/embed" },
  { methods: ["GET"], path: "/embed/stats" },
  // vectors
  { methods: ["GET", "POST"], path: "/vectors/index" },
  { methods: ["GET", "DELETE"], path: "/vectors/index/{name}" },
  { methods: ["POST"], path: "/vectors/index/{name}/add" },
  { methods: ["POST"], path: "/vectors/index/{name}/search" },
  { methods: ["POST"], path: "/vectors/index/{name}/delete" },
  {
    methods: ["GET"],
    path: "/vectors/index/{name}/stats",
    note: "read-only operations info (local engine), an addition to DESIGN §6",
  },
  // pathway
  ...["add", "add_idempotent", "update", "revise", "retire", "search"].map(
    (p): PublicRoute => ({ methods: ["POST"], path: `/pathway/${p}` }),
  ),
  { methods: ["GET"], path: "/pathway/get/{uid+}" },
  { methods: ["GET"], path: "/pathway/history/{uid+}" },
  { methods: ["GET"], path: "/pathway/stats" },
  // matrix
  { methods: ["POST"], path: "/matrix/search" },
  { methods: ["GET"], path: "/matrix/corpora" },
  { methods: ["POST"], path: "/matrix/playbooks/record" },
  { methods: ["POST"], path: "/matrix/relevance" },
  { methods: ["POST"], path: "/matrix/downgrade" },
  // observer
  { methods: ["GET"], path: "/observer/stats" },
  { methods: ["POST"], path: "/observer/event" },
  { methods: ["POST"], path: "/observer/events" },
  { methods: ["GET"], path: "/observer/ops" },
  { methods: ["POST"], path: "/observer/review" },
  { methods: ["POST"], path: "/observer/cycle" },
  ...["clusters", "playbooks", "escalations", "reviews", "recommendations"].map(
    (p): PublicRoute => ({ methods: ["GET"], path: `/observer/${p}` }),
  ),
  {
    methods: ["GET"],
    path: "/observer/cycles",
    note: "past cycles, read-only, an addition to DESIGN §6",
  },
  // mcp: GET and DELETE reach the server, which answers 405 saying it is stateless (MCP clients read that)
  { methods: ["POST", "GET", "DELETE"], path: "/mcp" },
  // every family: its health and its (filtered) OpenAPI document
  ...Object.values(SERVICES).flatMap(({ family }): PublicRoute[] => [
    { methods: ["GET"], path: `/${family}/health` },
    { methods: ["GET"], path: `/${family}/openapi.json` },
  ]),
];

/** A request path split into percent-decoded segments (the part after /v1). */
export interface NormalisedPath {
  segments: string[];
  /** The same path re-encoded canonically: what is forwarded. */
  encoded: string;
}

/** Encodes one decoded segment for a URL path (sub-delims, ":" and "@" stay literal). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(3A|40|24|26|2B|2C|3B|3D)/gi, (m) =>
    decodeURIComponent(m),
  );
}

/**
 * Splits `pathname` (which starts with /v1/) into decoded segments. Malformed escapes are a 400;
 * a `.` or `..` segment (the URL parser resolves literal ones; these came encoded) is a 404.
 */
export function normalisePath(pathname: string): NormalisedPath {
  const rest = pathname.replace(/^\/v1(?=\/|$)/, "");
  const raw = rest.split("/").slice(1);
  const segments = raw.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new LakehouseError(
        "bad_request",
        `malformed percent-encoding in path segment ${JSON.stringify(s.slice(0, 200))}`,
      );
    }
  });
  if (segments.some((s) => s === "." || s === "..")) {
    throw new LakehouseError(
      "not_found",
      `no public route for ${pathname.slice(0, 300)}: "." and ".." path segments are not allowed`,
    );
  }
  return { segments, encoded: "/" + segments.map(encodeSegment).join("/") };
}

interface Compiled {
  route: PublicRoute;
  parts: string[];
}
const COMPILED: Compiled[] = PUBLIC_ROUTES.map((route) => ({
  route,
  parts: route.path.split("/").slice(1),
}));

/** The parameters of `route` when `segments` match it, else undefined. */
function matchParts(parts: string[], segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const rest = /^\{(\w+)\+\}$/.exec(part);
    if (rest) {
      // One or more remaining segments (a key may contain "/" and even empty segments).
      if (i !== parts.length - 1 || segments.length <= i || segments.slice(i).join("/") === "")
        return undefined;
      params[rest[1]!] = segments.slice(i).join("/");
      return params;
    }
    const seg = segments[i];
    if (seg === undefined) return undefined;
    const one = /^\{(\w+)\}$/.exec(part);
    if (one) {
      if (seg === "" || seg.includes("/")) return undefined;
      params[one[1]!] = seg;
    } else if (seg !== part) return undefined;
  }
  return segments.length === parts.length ? params : undefined;
}

export type RouteMatch =
  | { ok: true; route: PublicRoute; params: Record<string, string> }
  | { ok: false; error: LakehouseError; allow?: string };

/** Decides whether `method segments` is public: the route, or 404 / 405 (with Allow). */
export function matchPublicRoute(
  method: string,
  segments: string[],
  shownPath: string,
): RouteMatch {
  const allowed = new Set<string>();
  for (const { route, parts } of COMPILED) {
    const params = matchParts(parts, segments);
    if (!params) continue;
    const methods = new Set<string>(route.methods);
    if (methods.has("GET")) methods.add("HEAD");
    if (methods.has(method)) return { ok: true, route, params };
    for (const m of methods) allowed.add(m);
  }
  if (allowed.size > 0) {
    const allow = [...allowed].join(", ");
    return {
      ok: false,
      error: new LakehouseError(
        "method_not_allowed",
        `${method} is not allowed on ${shownPath} (allowed: ${allow})`,
      ),
      allow,
    };
  }
  return {
    ok: false,
    error: new LakehouseError("not_found", `no public route for ${method} ${shownPath}`),
  };
}

// ---- prefixes the system owns: read-only through the public API ---------------------------

/** Storage prefixes that only the services write. `[ingestd].prefix` is added from the config. */
export const SYSTEM_PREFIXES = [
  "_ingest/", // CSV bodies staged by ingest while it converts them
  "_vectors/", // vector index data (reserved for the vectors service; 4 GiB object cap)
] as const;

export function ownedPrefixes(datasetPrefix: string): string[] {
  return [datasetPrefix, ...SYSTEM_PREFIXES].filter((p) => p.length > 0);
}

/**
 * A write (PUT, DELETE, any multipart call) on a storage key under an owned prefix → 403 naming
 * the prefix. `key` is the decoded key as storage will see it. Reads are never refused here.
 */
export function checkStorageWrite(
  method: string,
  route: PublicRoute,
  key: string,
  prefixes: string[],
): void {
  const write =
    route.path === "/storage/multipart/{key+}" ||
    (route.path === "/storage/objects/{key+}" && (method === "PUT" || method === "DELETE"));
  if (!write) return;
  // POST …/<key>/complete names the key without its last segment; the prefix is the same.
  const owned = prefixes.find((p) => key.startsWith(p));
  if (owned) {
    throw new LakehouseError(
      "forbidden",
      `storage key ${JSON.stringify(key.slice(0, 300))} is under ${JSON.stringify(owned)}, a prefix the lakehouse itself writes; it is read-only through the public API (upload your own files elsewhere, e.g. under "_uploads/")`,
    );
  }
}

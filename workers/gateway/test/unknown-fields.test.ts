// Issue #21: no JSON body field is silently ignored. Walks every public route whose documented
// request body is JSON (GET /v1/openapi.json, every service behind the gateway; /v1/sql is the
// query service's own business and /v1/mcp speaks JSON-RPC) and posts a valid body with one extra
// field: each answers 400 `bad_request` naming it (`unknown field body.foo`), while the same body
// without the extra field is not refused for its fields. A route added with a JSON body and no
// entry in VALID fails the walk. Nested fixed-shape objects are strict too; free-form maps
// (metadata, filters, trace content, chunk extras) stay open.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

const gateway = exports.default as { fetch(input: string, init?: RequestInit): Promise<Response> };
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function post(path: string, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await gateway.fetch(`http://gw${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, body: json };
}

/** A valid body for each public JSON-body route, by its OpenAPI path (`{x}` filled in by `fill`). */
const VALID: Record<string, unknown> = {
  "POST /v1/storage/multipart/{key}/complete": { parts: [{ part_number: 1, etag: "e" }] },
  "POST /v1/embed": { texts: ["hello"] },
  "POST /v1/vectors/index": { name: "walk_new", dimension: 3, distance: "cosine" },
  "POST /v1/vectors/index/{name}/add": {
    items: [{ id: "a", vector: [1, 0, 0], metadata: { k: 1 } }],
  },
  "POST /v1/vectors/index/{name}/search": { vector: [1, 0, 0], k: 1 },
  "POST /v1/vectors/index/{name}/delete": { ids: ["nope"] },
  "POST /v1/pathway/add": { uid: "walk-1", content: { a: 1 }, tags: ["t"] },
  "POST /v1/pathway/add_idempotent": { uid: "walk-2", content: "x" },
  "POST /v1/pathway/update": { uid: "walk-pre", content: { a: 2 } },
  "POST /v1/pathway/revise": { predecessor_uid: "walk-pre", content: { a: 3 } },
  "POST /v1/pathway/retire": { uid: "walk-pre" },
  "POST /v1/pathway/search": { tags: ["t"], limit: 5 },
  "POST /v1/matrix/search": { query_vector: [1, 0, 0], corpora: ["walk"], k: 1 },
  "POST /v1/matrix/playbooks/record": {
    query_text: "q",
    answer_id: "a",
    answer_corpus: "walk",
    score: 1,
  },
  "POST /v1/matrix/relevance": {
    focus_file: { path: "src/a.ts", content: "export function a() {}" },
    chunks: [{ source: "src/a.ts", text: "a()", extra: "kept" }],
  },
  "POST /v1/matrix/downgrade": { mode: "codereview_lakehouse", model: "gpt-4o" },
  "POST /v1/observer/event": { endpoint: "/walk", success: true },
  "POST /v1/observer/events": { events: [{ endpoint: "/walk", success: true }] },
  "POST /v1/observer/review": { response: "an answer", source_content: "an answer" },
};

/** Routes whose JSON body this walk leaves to others: SQL (the query service) and MCP (JSON-RPC, validated by the SDK). */
const NOT_WALKED = new Set(["POST /v1/sql", "POST /v1/mcp"]);

/** Nested fixed-shape objects: the extra field inside them is named with its path. */
const NESTED: [string, unknown, string][] = [
  [
    "/v1/vectors/index/walk/add",
    {
      items: [
        { id: "a", vector: [1, 0, 0] },
        { id: "b", vector: [0, 1, 0], colour: "red" },
      ],
    },
    "unknown field body.items[1].colour",
  ],
  [
    "/v1/matrix/relevance",
    { focus_file: { path: "a.ts", content: "", lang: "ts" }, chunks: [] },
    "unknown field body.focus_file.lang",
  ],
  [
    "/v1/storage/multipart/uploads/x.bin/complete?upload_id=u",
    { parts: [{ part_number: 1, etag: "e", size: 3 }] },
    "unknown field body.parts[0].size",
  ],
];

let uploadId = "";
const fill = (path: string) =>
  path
    .replace("{key}", "uploads/walk.bin")
    .replace("{name}", "walk")
    .replace(/\/complete$/, `/complete?upload_id=${encodeURIComponent(uploadId)}`);

beforeAll(async () => {
  // a real multipart upload, so the valid complete body completes it (after the refused ones did not)
  uploadId = (await post("/v1/storage/multipart/uploads/walk.bin", undefined)).body.upload_id;
  expect(uploadId).toBeTruthy();
  const part = await gateway.fetch(
    `http://gw/v1/storage/multipart/uploads/walk.bin?upload_id=${encodeURIComponent(uploadId)}&part=1`,
    { method: "PUT", body: "abc" },
  );
  expect(part.status).toBe(200);
  VALID["POST /v1/storage/multipart/{key}/complete"] = {
    parts: [{ part_number: 1, etag: ((await part.json()) as Json).etag }],
  };
  expect((await post("/v1/pathway/add", { uid: "walk-pre", content: "before" })).status).toBe(200);
  const created = await post("/v1/vectors/index", {
    name: "walk",
    dimension: 3,
    distance: "cosine",
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}, 120_000);

describe("unknown JSON body fields are refused on every route (#21)", () => {
  it("walks every public JSON-body route of the OpenAPI document: an extra field is a 400 naming it", async () => {
    const doc = (await (await gateway.fetch("http://gw/v1/openapi.json")).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content?: Record<string, unknown> } }>
      >;
    };
    const routes: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (op?.requestBody?.content?.["application/json"] === undefined) continue;
        const route = `${method.toUpperCase()} ${path}`;
        if (!NOT_WALKED.has(route)) routes.push(route);
      }
    }
    // Every JSON-body route has a valid body here, and nothing here is stale.
    expect(routes.sort()).toEqual(Object.keys(VALID).sort());
    const wrong: string[] = [];
    for (const route of routes) {
      const path = fill(route.slice("POST ".length));
      const valid = VALID[route] as Record<string, unknown>;
      const extra = await post(path, { ...valid, foo: 1 });
      if (
        extra.status !== 400 ||
        extra.body?.error?.code !== "bad_request" ||
        !String(extra.body?.error?.message).includes("unknown field body.foo")
      ) {
        wrong.push(
          `${route} with foo: ${extra.status} ${JSON.stringify(extra.body).slice(0, 200)}`,
        );
      }
      const two = await post(path, { bar: [1], ...valid, foo: 1 });
      if (
        !/unknown field body\.bar.*unknown field body\.foo|unknown field body\.foo.*unknown field body\.bar/.test(
          String(two.body?.error?.message),
        )
      ) {
        wrong.push(
          `${route} with bar and foo: ${two.status} ${JSON.stringify(two.body).slice(0, 200)}`,
        );
      }
      const ok = await post(path, valid);
      if (ok.status >= 400 || /unknown field/.test(JSON.stringify(ok.body)))
        wrong.push(
          `${route} valid body refused: ${ok.status} ${JSON.stringify(ok.body).slice(0, 200)}`,
        );
    }
    expect(wrong).toEqual([]);
  });

  it("nested fixed-shape objects name the field with its path; free-form maps keep their keys", async () => {
    for (const [path, body, message] of NESTED) {
      const res = await post(path, body);
      expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.code).toBe("bad_request");
      expect(res.body.error.message, path).toContain(message);
    }
    // a batch of events reports each event on its own: the one with the extra field is refused, naming it
    const batch = await post("/v1/observer/events", [
      { endpoint: "/x" },
      { endpoint: "/y", colour: "red" },
    ]);
    expect(batch.status).toBe(200);
    expect(batch.body.results[1]).toMatchObject({
      index: 1,
      accepted: false,
      error: { code: "bad_request", message: "unknown field events[1].colour" },
    });
    expect(batch.body.accepted).toBe(1);
    // metadata stays a free-form map, and a chunk's own extra fields are returned as given
    const add = await post("/v1/vectors/index/walk/add", {
      items: [{ id: "m", vector: [0, 0, 1], metadata: { anything: { goes: 1 } } }],
    });
    expect(add.status, JSON.stringify(add.body)).toBe(200);
    const rel = await post("/v1/matrix/relevance", {
      focus_file: { path: "src/a.ts", content: "export function a() {}" },
      chunks: [{ source: "src/a.ts", text: "a()", extra: "kept" }],
    });
    expect(rel.status).toBe(200);
    expect([...rel.body.kept, ...rel.body.dropped][0].extra).toBe("kept");
    // a refused body changed nothing: the index still has the two vectors the walk and this test added
    const info = (await (await gateway.fetch("http://gw/v1/vectors/index/walk")).json()) as Json;
    expect(info.count).toBe(2);
    void env;
  });
});

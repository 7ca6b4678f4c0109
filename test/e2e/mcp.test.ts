// MCP through the gateway, as an agent uses it: the SDK's own client over Streamable
// HTTP (with the bearer token) and over stdio through `lakehouse mcp`; every tool
// called against the running system; ingest → query_sql round trip; a tool error as
// an isError result that the observer counts as a failure of source mcp.

import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const TOKEN = "mcp-e2e-token";
const CLI = resolve(import.meta.dirname, "../../bin/lakehouse.mjs");
const TOOLS = [
  "create_index",
  "embed_text",
  "forget",
  "get_manifest",
  "ingest_csv",
  "list_datasets",
  "list_indexes",
  "matrix_search",
  "observer_stats",
  "pathway_add",
  "pathway_history",
  "pathway_retire",
  "pathway_revise",
  "pathway_search",
  "query_sql",
  "record_event",
  "record_playbook",
  "remember",
  "review",
  "search_vectors",
];

type ToolResult = { content: { type: string; text?: string }[]; isError?: boolean };
const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");
/** Parses a tool's JSON text (after an optional one-line preface). */
function body(r: ToolResult): any {
  const t = text(r);
  const start = t.search(/[[{]/);
  return JSON.parse(t.slice(start));
}

async function httpClient(sys: System, token = TOKEN): Promise<Client> {
  const client = new Client({ name: "e2e-http", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${sys.url}/v1/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, tries = 60): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("MCP through the gateway", () => {
  let sys: System;
  let client: Client;
  const call = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as ToolResult;

  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: TOKEN } });
    client = await httpClient(sys);
  });
  afterAll(async () => {
    await client?.close();
    await sys?.stop();
  });

  it("needs the gateway's bearer token", async () => {
    await expect(httpClient(sys, "wrong-token")).rejects.toThrow(/401|invalid bearer token/);
  });

  it("lists every tool with a description and an input schema", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const t of tools) {
      expect(t.description?.length ?? 0, t.name).toBeGreaterThan(20);
      expect(t.inputSchema.type, t.name).toBe("object");
    }
    expect(tools.find((t) => t.name === "ingest_csv")!.inputSchema.required).toEqual([
      "name",
      "csv",
    ]);
  });

  it("ingest_csv → list_datasets → get_manifest → query_sql round trip", async () => {
    const csv = "id,name,score,active\n1,ada,9.5,true\n2,grace,8.25,false\n3,linus,,true\n";
    const ingested = await call("ingest_csv", { name: "mcp_people", csv });
    expect(ingested.isError, text(ingested)).toBeFalsy();
    expect(body(ingested).row_count).toBe(3);

    const listed = await call("list_datasets");
    expect(body(listed).datasets.map((d: { name: string }) => d.name)).toContain("mcp_people");

    const manifest = body(await call("get_manifest", { name: "mcp_people" }));
    expect(
      manifest.schema.map((f: { name: string; type: string }) => `${f.name}:${f.type}`),
    ).toEqual(["id:int64", "name:string", "score:float64", "active:bool"]);
    expect(manifest.schema.find((f: { name: string }) => f.name === "score").nullable).toBe(true);

    const q = await call("query_sql", {
      sql: "SELECT name, score FROM mcp_people WHERE active ORDER BY id",
    });
    expect(q.isError, text(q)).toBeFalsy();
    expect(text(q)).toMatch(/^2 rows\./);
    const res = body(q);
    expect(res.columns.map((c: { name: string }) => c.name)).toEqual(["name", "score"]);
    expect(res.rows).toEqual([
      ["ada", 9.5],
      ["linus", null],
    ]);
  });

  it("caps big SQL results and says so", async () => {
    const q = await call("query_sql", {
      // a recursive CTE needs a LIMIT of its own (docs/sql.md): an unbounded one is refused
      sql: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500 LIMIT 1000) SELECT i FROM n",
    });
    expect(q.isError, text(q)).toBeFalsy();
    expect(text(q)).toMatch(/truncated at 200 rows/);
    expect(body(q).rows).toHaveLength(200);
    expect(body(q).truncated).toBe(true);
  });

  it("embeds text and searches a vector index by vector and by text", async () => {
    const embedded = body(
      await call("embed_text", { texts: ["red apples and green pears", "the stock market fell"] }),
    );
    expect(embedded.vectors).toHaveLength(2);
    const dim = embedded.dimension as number;
    expect(embedded.vectors[0]).toHaveLength(dim);

    const created = await sys.json("/v1/vectors/index", {
      method: "POST",
      json: { name: "mcp_docs", dimension: dim, distance: "cosine" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const added = await sys.json("/v1/vectors/index/mcp_docs/add", {
      method: "POST",
      json: {
        items: [
          { id: "fruit", vector: embedded.vectors[0], metadata: { topic: "food" } },
          { id: "market", vector: embedded.vectors[1], metadata: { topic: "money" } },
        ],
      },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);

    const byVector = await call("search_vectors", {
      index: "mcp_docs",
      vector: embedded.vectors[1],
      k: 2,
    });
    expect(byVector.isError, text(byVector)).toBeFalsy();
    expect(body(byVector).results[0].id).toBe("market");

    const byText = body(
      await call("search_vectors", { index: "mcp_docs", text: "red apples and green pears", k: 1 }),
    );
    expect(byText.results[0].id).toBe("fruit");

    const matrix = await call("matrix_search", {
      query_text: "the stock market fell",
      corpora: ["mcp_docs"],
      k: 1,
    });
    expect(matrix.isError, text(matrix)).toBeFalsy();
    expect(body(matrix).results[0]).toMatchObject({ id: "market", corpus: "mcp_docs" });
  });

  it("adds, searches and walks traces in pathway memory", async () => {
    const first = body(
      await call("pathway_add", {
        uid: "mcp-trace-1",
        content: { step: "plan" },
        tags: ["mcp-e2e"],
      }),
    );
    expect(first.uid).toBe("mcp-trace-1");
    const revised = await sys.json("/v1/pathway/revise", {
      method: "POST",
      json: { predecessor_uid: "mcp-trace-1", uid: "mcp-trace-2", content: { step: "plan v2" } },
    });
    expect(revised.status, JSON.stringify(revised.body)).toBe(200);

    const found = await call("pathway_search", { tags: ["mcp-e2e"] });
    expect(found.isError, text(found)).toBeFalsy();
    expect(text(found)).toContain("mcp-trace-1");

    const history = await call("pathway_history", { uid: "mcp-trace-2" });
    expect(history.isError, text(history)).toBeFalsy();
    expect(text(history)).toMatch(/mcp-trace-2[\s\S]*mcp-trace-1/);
  });

  it("records events, reviews answers and reads observer stats", async () => {
    const recorded = body(
      await call("record_event", {
        endpoint: "scenario/step-1",
        success: true,
        source: "scenario",
        duration_ms: 12,
      }),
    );
    expect(recorded.accepted).toBe(true);
    const verdict = body(
      await call("review", {
        response: "Paris is the capital of France.",
        source_content: "France's capital is Paris.",
      }),
    );
    expect(["accept", "reject", "cycle"]).toContain(verdict.verdict);
    const stats = body(await call("observer_stats"));
    expect(stats.total).toBeGreaterThan(0);
    expect(stats.recent_scenario_ops.map((o: { endpoint: string }) => o.endpoint)).toContain(
      "scenario/step-1",
    );
  });

  it("returns tool failures as isError results with the service's message, counted as mcp failures", async () => {
    const before = (await sys.json("/v1/observer/stats")).body;
    const missing = await call("get_manifest", { name: "no_such_dataset" });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/no_such_dataset/);
    expect(text(missing)).toMatch(/404/);

    const badSql = await call("query_sql", { sql: "DELETE FROM mcp_people" });
    expect(badSql.isError).toBe(true);
    expect(text(badSql)).toMatch(/400/);

    const badArgs = await call("query_sql", { sql: 7 });
    expect(badArgs.isError).toBe(true);
    expect(text(badArgs)).toMatch(/sql/);

    const after = await until("three more failures in observer stats", async () => {
      const s = (await sys.json("/v1/observer/stats")).body;
      return s.failures >= before.failures + 3 ? s : undefined;
    });
    expect(after.failures).toBeGreaterThanOrEqual(before.failures + 3);
    const ops = await sys.json("/v1/observer/ops?source=mcp&success=false&limit=50");
    expect(ops.status).toBe(200);
    const list = (Array.isArray(ops.body) ? ops.body : ops.body.ops) as {
      endpoint: string;
      source: string;
      success: boolean;
      error?: string;
    }[];
    const failed = list.filter((o) => o.endpoint === "get_manifest");
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]).toMatchObject({ source: "mcp", success: false });
    expect(failed[0]!.error).toMatch(/no_such_dataset/);
  });

  it("witnesses successful calls too, with the tool as endpoint", async () => {
    await call("list_datasets");
    const ops = await until("a witnessed list_datasets", async () => {
      const res = await sys.json("/v1/observer/ops?source=mcp&success=true&limit=200");
      const list = (Array.isArray(res.body) ? res.body : res.body.ops) as {
        endpoint: string;
        duration_ms: number;
      }[];
      return list.some((o) => o.endpoint === "list_datasets") ? list : undefined;
    });
    const op = ops.find((o) => o.endpoint === "list_datasets")!;
    expect(op.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("serves stdio clients through `lakehouse mcp`", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, "mcp", "--gateway", sys.url],
      env: { ...process.env, LAKEHOUSE_TOKEN: TOKEN } as Record<string, string>,
      stderr: "pipe",
    });
    const stdio = new Client({ name: "e2e-stdio", version: "1" });
    await stdio.connect(transport);
    try {
      const { tools } = await stdio.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
      const q = (await stdio.callTool({
        name: "query_sql",
        arguments: { sql: "SELECT count(*) AS n FROM mcp_people" },
      })) as ToolResult;
      expect(q.isError, text(q)).toBeFalsy();
      expect(body(q).rows).toEqual([[3]]);
      const err = (await stdio.callTool({ name: "pathway_history", arguments: {} })) as ToolResult;
      expect(err.isError).toBe(true);
      expect(text(err)).toMatch(/uid/);
    } finally {
      await stdio.close();
    }
  });
});

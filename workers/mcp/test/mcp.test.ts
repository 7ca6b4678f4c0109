// The MCP Worker inside workerd, driven by the SDK's own client over Streamable HTTP
// (the transport's fetch routed to this Worker), with every other Worker real.
import { exports } from "cloudflare:workers";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const worker = exports.default as { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };

const TOOL_NAMES = [
  "embed_text", "get_manifest", "ingest_csv", "list_datasets", "matrix_search", "observer_stats", "pathway_add",
  "pathway_history", "pathway_search", "query_sql", "record_event", "review", "search_vectors",
];

describe("mcp worker", () => {
  let client: Client;
  beforeAll(async () => {
    client = new Client({ name: "test", version: "1" });
    const transport = new StreamableHTTPClientTransport(new URL("http://mcp.test/mcp"), {
      fetch: (input, init) => worker.fetch(input as string, init),
    });
    await client.connect(transport);
  });
  afterAll(() => client?.close());

  it("lists every tool with a description and a JSON-schema input", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    for (const t of tools) {
      expect(t.description!.length, t.name).toBeGreaterThan(20);
      expect(t.inputSchema.type).toBe("object");
    }
    const sql = tools.find((t) => t.name === "query_sql")!;
    expect(sql.inputSchema.required).toEqual(["sql"]);
    expect(Object.keys(sql.inputSchema.properties ?? {})).toContain("max_rows");
  });

  it("returns bad arguments as an isError result naming the field", async () => {
    const res = await client.callTool({ name: "query_sql", arguments: { sql: 42 } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toMatch(/sql/);
    const missing = await client.callTool({ name: "search_vectors", arguments: { index: "x" } });
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toMatch(/vector.*text|text/);
  });

  it("answers GET with 405 in the JSON error shape (stateless: no event stream)", async () => {
    const res = await worker.fetch("http://mcp.test/mcp", { headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(405);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("method_not_allowed");
    expect(body.error.message).toMatch(/stateless/);
  });

  it("answers malformed JSON with a JSON-RPC parse error", async () => {
    const res = await worker.fetch("http://mcp.test/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: number } };
    expect(body.error.code).toBe(-32700);
  });

  it("describes its route in /mcp/openapi.json", async () => {
    const res = await worker.fetch("http://mcp.test/mcp/openapi.json");
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths)).toContain("/mcp");
    expect(Object.keys(doc.paths["/mcp"]!)).toContain("post");
  });
});

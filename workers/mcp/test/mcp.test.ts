// The MCP Worker inside workerd, driven by the SDK's own client over Streamable HTTP
// (the transport's fetch routed to this Worker), with every other Worker real.
import { env, exports } from "cloudflare:workers";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import configText from "../../../lakehouse.toml";
import { parseConfig } from "../../../shared/config";
import { handleMcpPost } from "../src/server";

const worker = exports.default as {
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
};

const TOOL_NAMES = [
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
const WRITING = [
  "create_index",
  "forget",
  "ingest_csv",
  "pathway_add",
  "pathway_retire",
  "pathway_revise",
  "record_event",
  "record_playbook",
  "remember",
  "review",
];

type ToolResult = { content: { type: string; text?: string }[]; isError?: boolean };
const text = (r: unknown) => (r as ToolResult).content.map((c) => c.text ?? "").join("\n");

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

  it("refuses an argument a tool does not take, naming it, and runs nothing (#21)", async () => {
    const before = (await (await env.PATHWAY.fetch("http://pathway/pathway/stats")).json()) as {
      total: number;
    };
    const res = await client.callTool({
      name: "pathway_add",
      arguments: { content: "x", colour: "red" },
    });
    expect(res.isError).toBe(true);
    expect(text(res)).toMatch(/unknown argument "colour"/);
    const after = (await (await env.PATHWAY.fetch("http://pathway/pathway/stats")).json()) as {
      total: number;
    };
    expect(after.total).toBe(before.total);
    const { tools } = await client.listTools();
    for (const t of tools) expect(t.inputSchema.additionalProperties, t.name).toBe(false);
  });

  it("says in /health how many tools it offers and whether it is read-only", async () => {
    const res = await worker.fetch("http://mcp.test/mcp/health");
    expect(await res.json()).toMatchObject({
      service: "mcp",
      status: "ok",
      tools: TOOL_NAMES.length,
      read_only: false,
    });
  });

  it("answers GET with 405 in the JSON error shape (stateless: no event stream)", async () => {
    const res = await worker.fetch("http://mcp.test/mcp", {
      headers: { accept: "text/event-stream" },
    });
    expect(res.status).toBe(405);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("method_not_allowed");
    expect(body.error.message).toMatch(/stateless/);
  });

  it("answers malformed JSON with a JSON-RPC parse error", async () => {
    const res = await worker.fetch("http://mcp.test/mcp", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
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

  it("marks exactly the tools that change stored state as not read-only", async () => {
    const { tools } = await client.listTools();
    expect(
      tools
        .filter((t) => t.annotations?.readOnlyHint !== true)
        .map((t) => t.name)
        .sort(),
    ).toEqual(WRITING);
    for (const name of WRITING) {
      expect(tools.find((t) => t.name === name)!.description, name).toMatch(/stored state/);
    }
  });

  it("remembers texts: the index must exist unless create is asked for; a refused batch creates nothing", async () => {
    const missing = await client.callTool({
      name: "remember",
      arguments: { index: "unit_mem", items: [{ id: "a", text: "alpha beta" }] },
    });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/404 not_found.*unit_mem.*create: true/);

    const blank = await client.callTool({
      name: "remember",
      arguments: {
        index: "unit_mem",
        create: true,
        items: [
          { id: "a", text: "alpha" },
          { id: "b", text: "   " },
        ],
      },
    });
    expect(blank.isError).toBe(true);
    expect(text(blank)).toMatch(/400 bad_request.*items\[1\]\.text: empty text/);
    const big = await client.callTool({
      name: "remember",
      arguments: { index: "unit_mem", create: true, items: [{ id: "a", text: "x".repeat(5000) }] },
    });
    expect(big.isError).toBe(true);
    expect(text(big)).toMatch(/items\[0\]\.metadata: .*max_metadata_bytes.*keep_text/);
    expect(text(await client.callTool({ name: "list_indexes", arguments: {} }))).not.toContain(
      "unit_mem",
    );

    const ok = await client.callTool({
      name: "remember",
      arguments: {
        index: "unit_mem",
        create: true,
        items: [
          { id: "a", text: "alpha beta" },
          { id: "b", text: "gamma delta", metadata: { n: 1 } },
        ],
      },
    });
    expect(ok.isError, text(ok)).toBeFalsy();
    expect(JSON.parse(text(ok))).toMatchObject({
      index: "unit_mem",
      created: true,
      added: 2,
      count: 2,
    });
    const hit = JSON.parse(
      text(
        await client.callTool({
          name: "search_vectors",
          arguments: { index: "unit_mem", text: "gamma delta", k: 1 },
        }),
      ),
    );
    expect(hit.results[0]).toMatchObject({ id: "b", metadata: { n: 1, text: "gamma delta" } });

    const small = JSON.parse(
      text(
        await client.callTool({
          name: "create_index",
          arguments: { name: "unit_small", dimension: 3 },
        }),
      ),
    );
    expect(small).toMatchObject({ name: "unit_small", dimension: 3, distance: "cosine" });
    const mismatch = await client.callTool({
      name: "remember",
      arguments: { index: "unit_small", items: [{ id: "a", text: "alpha" }] },
    });
    expect(mismatch.isError).toBe(true);
    expect(text(mismatch)).toMatch(/400 bad_request.*3-d vectors/);
    const both = await client.callTool({
      name: "create_index",
      arguments: { name: "unit_both", dimension: 3, model: "m" },
    });
    expect(both.isError).toBe(true);
    expect(text(both)).toMatch(/dimension, model: give one of them/);
  });

  it("in read-only mode lists no writing tool and refuses a call to one with isError", async () => {
    const config = parseConfig(configText, { LH_MCPD_READ_ONLY: "true" });
    expect(config.mcpd.read_only).toBe(true);
    const pending: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (p: Promise<unknown>) => void pending.push(p),
      passThroughOnException() {},
    } as unknown as ExecutionContext;
    const ro = new Client({ name: "test-ro", version: "1" });
    await ro.connect(
      new StreamableHTTPClientTransport(new URL("http://mcp.test/mcp"), {
        fetch: (input, init) =>
          handleMcpPost(
            new Request(input as string, init),
            env as unknown as Record<string, unknown>,
            ctx,
            "rid-ro",
            config,
          ),
      }),
    );
    try {
      const { tools } = await ro.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(
        TOOL_NAMES.filter((n) => !WRITING.includes(n)),
      );
      expect(ro.getInstructions()).toMatch(/read-only/);
      const refused = await ro.callTool({
        name: "create_index",
        arguments: { name: "ro_index", dimension: 3 },
      });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(
        /create_index refused: this MCP server is read-only \(\[mcpd\]\.read_only = true\)/,
      );
      const stillReads = await ro.callTool({ name: "list_indexes", arguments: {} });
      expect(stillReads.isError, text(stillReads)).toBeFalsy();
      expect(text(stillReads)).not.toContain("ro_index");
    } finally {
      await ro.close();
      await Promise.all(pending);
    }
  });
});

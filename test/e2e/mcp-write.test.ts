// Agents write the memory they search, over MCP (issue #16): the SDK's client over Streamable
// HTTP through the gateway and over stdio through `lakehouse mcp`, each running the same
// scenarios against one running system — create an index, remember three texts, find one by
// text, forget it; record a playbook that boosts a matrix_search; revise and retire a trace —
// and every call witnessed in the observer with source mcp. Then a system started with
// [mcpd].read_only (LH_MCPD_READ_ONLY=true) lists no writing tool and refuses a call to one.

import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const TOKEN = "mcp-write-e2e-token";
const CLI = resolve(import.meta.dirname, "../../bin/lakehouse.mjs");
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
const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");
const body = (r: ToolResult): any => JSON.parse(text(r));

async function httpClient(sys: System): Promise<Client> {
  const client = new Client({ name: "e2e-write-http", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${sys.url}/v1/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    }),
  );
  return client;
}

async function stdioClient(sys: System): Promise<Client> {
  const client = new Client({ name: "e2e-write-stdio", version: "1" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, "mcp", "--gateway", sys.url],
      env: { ...process.env, LAKEHOUSE_TOKEN: TOKEN } as Record<string, string>,
      stderr: "pipe",
    }),
  );
  return client;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, tries = 80): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Every op of source mcp in the observer's durable log, oldest first. */
async function mcpOps(
  sys: System,
): Promise<{ endpoint: string; success: boolean; source: string; error?: string }[]> {
  const res = await sys.json("/v1/observer/ops?source=mcp&limit=1000");
  expect(res.status).toBe(200);
  return res.body.ops;
}

const TRANSPORTS = [
  ["http", httpClient],
  ["stdio", stdioClient],
] as const;

describe("MCP tools that write memory", () => {
  let sys: System;
  const clients: Record<string, Client> = {};
  /** Every tools/call made, in order: what the observer must have witnessed. */
  const made: string[] = [];

  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: TOKEN } });
    for (const [label, connect] of TRANSPORTS) clients[label] = await connect(sys);
  });
  afterAll(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => undefined);
    await sys?.stop();
  });

  for (const [label] of TRANSPORTS) {
    describe(`over ${label}`, () => {
      const call = async (name: string, args: Record<string, unknown> = {}) => {
        made.push(name);
        return (await clients[label]!.callTool({ name, arguments: args })) as ToolResult;
      };
      const ok = async (name: string, args: Record<string, unknown> = {}) => {
        const r = await call(name, args);
        expect(r.isError, `${name}: ${text(r)}`).toBeFalsy();
        return body(r);
      };
      const index = `${label}_notes`;

      it("lists the writing tools with what they do to stored state", async () => {
        const { tools } = await clients[label]!.listTools();
        const names = tools.map((t) => t.name);
        for (const w of WRITING) expect(names, w).toContain(w);
        expect(names).toContain("list_indexes");
        for (const w of [
          "create_index",
          "remember",
          "forget",
          "record_playbook",
          "pathway_revise",
          "pathway_retire",
        ]) {
          expect(tools.find((t) => t.name === w)!.description, w).toMatch(/stored state/);
        }
      });

      it("creates an index, remembers three texts, finds one by text, forgets it and it is gone", async () => {
        const created = await ok("create_index", { name: index });
        const dimension = (await ok("embed_text", { texts: ["probe"] })).dimension as number;
        expect(created).toMatchObject({ name: index, dimension, distance: "cosine", count: 0 });
        expect(typeof created.model).toBe("string");

        const again = await call("create_index", { name: index, dimension: 3 });
        expect(again.isError).toBe(true);
        expect(text(again)).toMatch(/409 conflict.*already exists/);
        const badName = await call("create_index", { name: "no spaces allowed", dimension: 3 });
        expect(badName.isError).toBe(true);
        expect(text(badName)).toMatch(/400 bad_request.*name.*no spaces allowed/);

        const remembered = await ok("remember", {
          index,
          items: [
            { id: "fruit", text: "red apples and green pears", metadata: { topic: "food" } },
            { id: "market", text: "the stock market fell sharply", metadata: { topic: "money" } },
            { id: "rain", text: "heavy rain flooded the valley", metadata: { topic: "weather" } },
          ],
        });
        expect(remembered).toMatchObject({ index, added: 3, count: 3, created: false, dimension });
        expect(
          (await ok("list_indexes")).indexes.find((i: { name: string }) => i.name === index),
        ).toMatchObject({ count: 3, dimension });

        const found = await ok("search_vectors", { index, text: "the stock market fell", k: 1 });
        expect(found.results[0]).toMatchObject({
          id: "market",
          metadata: { topic: "money", text: "the stock market fell sharply" },
        });

        expect(await ok("forget", { index, ids: ["market", "never-stored"] })).toEqual({
          index,
          deleted: 1,
        });
        const after = await ok("search_vectors", { index, text: "the stock market fell", k: 10 });
        expect(after.results.map((h: { id: string }) => h.id).sort()).toEqual(["fruit", "rain"]);

        const missing = await call("remember", {
          index: `${label}_missing`,
          items: [{ id: "a", text: "alpha" }],
        });
        expect(missing.isError).toBe(true);
        expect(text(missing)).toMatch(/404 not_found.*create: true/);
        const firstUse = await ok("remember", {
          index: `${label}_fresh`,
          create: true,
          items: [{ id: "a", text: "alpha beta" }],
        });
        expect(firstUse).toMatchObject({ created: true, added: 1, count: 1, dimension });
        const names = (await ok("list_indexes")).indexes.map((i: { name: string }) => i.name);
        expect(names).toContain(`${label}_fresh`);
        expect(names).not.toContain(`${label}_missing`);
      });

      it("records a playbook that boosts a matrix_search", async () => {
        const query = `${label} xylophone quartet rehearsal`;
        const search = () =>
          ok("matrix_search", { query_text: query, corpora: [index], k: 2, use_playbook: true });
        const before = await search();
        expect(before.playbook_boosted).toBe(0);
        const fruitBefore = before.results.find((h: { id: string }) => h.id === "fruit");
        expect(fruitBefore?.playbook_boost).toBeUndefined();

        const bad = await call("record_playbook", {
          query_text: query,
          answer_id: "fruit",
          answer_corpus: index,
          score: 2,
        });
        expect(bad.isError).toBe(true);
        expect(text(bad)).toMatch(/400 bad_request.*score/);
        const recorded = await ok("record_playbook", {
          query_text: query,
          answer_id: "fruit",
          answer_corpus: index,
          score: 1,
          tags: [label],
        });
        expect(typeof recorded.playbook_id).toBe("string");

        const after = await search();
        expect(after.playbook_boosted).toBe(1);
        expect(after.results[0]).toMatchObject({ id: "fruit", corpus: index, playbook_boost: 1 });
        expect(after.results[0].distance).toBeCloseTo(fruitBefore.distance * 0.5, 5);
      });

      it("revises and retires a trace and pathway_history shows it", async () => {
        const first = `${label}-trace-1`;
        const second = `${label}-trace-2`;
        await ok("pathway_add", {
          uid: first,
          content: { step: "plan" },
          tags: [`${label}-write`],
        });
        const revised = await ok("pathway_revise", {
          predecessor_uid: first,
          uid: second,
          content: { step: "plan v2" },
          tags: [`${label}-write`],
        });
        expect(revised).toMatchObject({ uid: second, predecessor_uid: first, retired: false });
        const retired = await ok("pathway_retire", { uid: first });
        expect(retired).toMatchObject({ uid: first, retired: true });

        const history = await ok("pathway_history", { uid: second });
        expect(
          history.traces.map((t: { uid: string; retired: boolean }) => [t.uid, t.retired]),
        ).toEqual([
          [second, false],
          [first, true],
        ]);
        const active = await ok("pathway_search", { tags: [`${label}-write`] });
        expect(active.traces.map((t: { uid: string }) => t.uid)).toEqual([second]);

        const unknown = await call("pathway_retire", { uid: `${label}-no-such-trace` });
        expect(unknown.isError).toBe(true);
        expect(text(unknown)).toMatch(/404/);
        const noPredecessor = await call("pathway_revise", {
          predecessor_uid: `${label}-no-such-trace`,
          content: "x",
        });
        expect(noPredecessor.isError).toBe(true);
        expect(text(noPredecessor)).toMatch(/404/);
      });
    });
  }

  it("witnesses every call in the observer with source mcp", async () => {
    expect(made.length).toBeGreaterThan(40);
    const stats = await until(`${made.length} mcp ops in observer stats`, async () => {
      const s = (await sys.json("/v1/observer/stats")).body;
      return (s.by_source?.mcp ?? 0) >= made.length ? s : undefined;
    });
    expect(stats.by_source.mcp).toBe(made.length);
    const ops = await mcpOps(sys);
    expect(ops.map((o) => o.endpoint).sort()).toEqual([...made].sort());
    for (const tool of [
      "create_index",
      "list_indexes",
      "remember",
      "forget",
      "record_playbook",
      "pathway_revise",
      "pathway_retire",
    ]) {
      expect(
        ops.filter((o) => o.endpoint === tool && o.success).length,
        tool,
      ).toBeGreaterThanOrEqual(2);
    }
    const failedRetire = ops.filter((o) => o.endpoint === "pathway_retire" && !o.success);
    expect(failedRetire).toHaveLength(2);
    expect(failedRetire[0]!.error).toMatch(/404/);
  });
});

describe("MCP in read-only mode ([mcpd].read_only)", () => {
  let sys: System;
  const clients: Record<string, Client> = {};

  beforeAll(async () => {
    sys = await startSystem({
      vars: { AUTH_TOKEN: TOKEN },
      workerVars: { LH_MCPD_READ_ONLY: "true" },
    });
    for (const [label, connect] of TRANSPORTS) clients[label] = await connect(sys);
  });
  afterAll(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => undefined);
    await sys?.stop();
  });

  for (const [label] of TRANSPORTS) {
    it(`over ${label}: lists no writing tool and refuses a call to one with isError`, async () => {
      const client = clients[label]!;
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).toEqual(
        expect.arrayContaining([
          "list_indexes",
          "search_vectors",
          "matrix_search",
          "pathway_history",
          "query_sql",
        ]),
      );
      for (const w of WRITING) expect(names, w).not.toContain(w);
      for (const t of tools) expect(t.annotations?.readOnlyHint, t.name).toBe(true);

      for (const [name, args] of [
        ["create_index", { name: `${label}_ro`, dimension: 3 }],
        ["remember", { index: `${label}_ro`, create: true, items: [{ id: "a", text: "alpha" }] }],
        ["pathway_add", { uid: `${label}-ro`, content: "x" }],
      ] as const) {
        const refused = (await client.callTool({ name, arguments: args })) as ToolResult;
        expect(refused.isError, name).toBe(true);
        expect(text(refused)).toMatch(
          new RegExp(
            `${name} refused: this MCP server is read-only \\(\\[mcpd\\]\\.read_only = true\\)`,
          ),
        );
      }
      const indexes = (await client.callTool({
        name: "list_indexes",
        arguments: {},
      })) as ToolResult;
      expect(indexes.isError, text(indexes)).toBeFalsy();
      expect(body(indexes).indexes).toEqual([]);
      const trace = await sys.json(`/v1/pathway/get/${label}-ro`);
      expect(trace.status).toBe(404);
    });
  }

  it("witnesses the refused calls as mcp failures", async () => {
    const ops = await until("8 witnessed mcp calls", async () => {
      const list = await mcpOps(sys);
      return list.length >= 8 ? list : undefined;
    });
    expect(ops).toHaveLength(8);
    const refused = ops.filter((o) => !o.success);
    expect(refused.map((o) => o.endpoint).sort()).toEqual([
      "create_index",
      "create_index",
      "pathway_add",
      "pathway_add",
      "remember",
      "remember",
    ]);
    for (const o of refused)
      expect(o).toMatchObject({ source: "mcp", error: expect.stringMatching(/read-only/) });
  });
});

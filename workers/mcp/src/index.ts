// lakehouse-mcp: the MCP server (Streamable HTTP, stateless) at /v1/mcp. Agents use the
// lakehouse through its tools (src/tools.ts); every tool call is witnessed to the observer.
// The gateway has already checked the bearer token and the IP allow-list.
import { z } from "@hono/zod-openapi";
import { createServiceApp } from "../../../shared/app";
import { LakehouseError } from "../../../shared/errors";
import { assertJsonTextDepth, readBoundedText } from "../../../shared/json-limits";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { handleMcpPost } from "./server";
import { TOOLS, visibleTools, WRITING_TOOLS } from "./tools";

const { app, api } = createServiceApp<Env>("mcp", "mcp", {
  health: (env) => {
    const mcpd = lakehouseConfig(env).mcpd;
    return { tools: visibleTools(mcpd).length, read_only: mcpd.read_only };
  },
});

api.post("/", async (c) => {
  // Service bindings bypass the gateway: the body is read within the mcp body cap
  // ([gateway.body_caps].mcp, 413 past it) and JSON deeper than MAX_JSON_DEPTH is a 400.
  const cap = c.get("bodyCap") ?? lakehouseConfig(c.env).gateway.body_caps.mcp;
  const text = await readBoundedText(c, cap, "[gateway.body_caps].mcp");
  assertJsonTextDepth(text, "request body");
  const request = new Request(c.req.raw.url, {
    method: "POST",
    headers: c.req.raw.headers,
    body: text,
  });
  return handleMcpPost(
    request,
    c.env as unknown as Record<string, unknown>,
    c.executionCtx as ExecutionContext,
    c.get("requestId"),
    lakehouseConfig(c.env),
  );
});

// Stateless: no event stream to open (GET) and no session to end (DELETE).
api.on(["GET", "DELETE"], "/", () => {
  throw new LakehouseError(
    "method_not_allowed",
    "this MCP server is stateless: POST JSON-RPC messages to /v1/mcp (no event stream, no sessions)",
  );
});

const JsonRpc = z
  .object({
    jsonrpc: z.literal("2.0"),
    method: z.string().optional(),
    id: z.union([z.string(), z.number()]).optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi("JsonRpcMessage");

api.openAPIRegistry.registerPath({
  method: "post",
  path: "/",
  summary: "MCP Streamable HTTP endpoint (stateless, JSON responses)",
  description: `JSON-RPC 2.0 messages of the Model Context Protocol. Tools: ${TOOLS.map((t) => t.name).join(", ")} (with [mcpd].read_only, the writing ones — ${[...WRITING_TOOLS].join(", ")} — are hidden and refused). Send Accept: application/json, text/event-stream.`,
  request: { body: { required: true, content: { "application/json": { schema: JsonRpc } } } },
  responses: {
    200: { description: "JSON-RPC response", content: { "application/json": { schema: JsonRpc } } },
    202: { description: "notification accepted" },
    400: { description: "malformed JSON-RPC" },
    406: { description: "the client does not accept application/json and text/event-stream" },
  },
});
api.openAPIRegistry.registerPath({
  method: "get",
  path: "/",
  summary: "Not supported: the server is stateless (405)",
  responses: { 405: { description: "method not allowed" } },
});

export default app satisfies ExportedHandler<Env>;

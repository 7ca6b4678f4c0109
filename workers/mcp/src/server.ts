// One MCP exchange: a fresh McpServer and a fresh stateless Streamable HTTP transport
// per request (a module-scope transport fails on the second request in workerd),
// JSON responses (no event stream), and every tools/call witnessed to the observer
// after the response is ready (ctx.waitUntil), never delaying the answer.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { z } from "zod";
import { serviceClient } from "../../../shared/clients";
import type { LakehouseConfig } from "../../../shared/config";
import { logger } from "../../../shared/log";
import type { ObservedOp } from "../../../shared/types";
import { errorResult, summarize, toErrorResult } from "./results";
import { type ToolContext, visibleTools, WRITING_TOOLS } from "./tools";

export const SERVER_INFO = { name: "lakehouse", version: "1.0.0" } as const;

const INSTRUCTIONS =
  "Tools over a lakehouse and memory platform: datasets (list_datasets, get_manifest, ingest_csv, query_sql — every dataset is a SQL table), " +
  "embeddings and vector memory (embed_text, list_indexes, create_index, remember, forget, search_vectors, matrix_search, record_playbook), " +
  "trace memory (pathway_add, pathway_revise, pathway_retire, pathway_search, pathway_history), " +
  "and the observer that witnesses every call (observer_stats, record_event, review). Failures come back as isError results with the service's message.";
const READ_ONLY_INSTRUCTIONS =
  " This server is read-only ([mcpd].read_only): only tools that change no stored state are offered.";

/** The answer to a call of a writing tool when [mcpd].read_only is set. */
export function readOnlyRefusal(tool: string): CallToolResult {
  return errorResult(
    `${tool} refused: this MCP server is read-only ([mcpd].read_only = true) and ${tool} changes stored state; ` +
      "only tools that change nothing are offered (see tools/list)",
  );
}

interface CallRecord {
  tool: string;
  args: unknown;
  durationMs?: number;
  result?: CallToolResult;
}

type JsonRpcId = string | number;

function buildServer(
  env: Record<string, unknown>,
  requestId: string,
  config: LakehouseConfig,
  records: Map<JsonRpcId, CallRecord>,
): McpServer {
  const limits = config.mcpd;
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: limits.read_only ? INSTRUCTIONS + READ_ONLY_INSTRUCTIONS : INSTRUCTIONS,
    jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
  });
  // Read-only: the writing tools are not registered at all, so tools/list cannot show them and
  // no code path can run them; a call naming one is answered by readOnlyRefusal (handleMcpPost).
  for (const tool of visibleTools(limits)) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: strictArguments(tool.input),
        annotations: tool.annotations,
      },
      (async (args: Record<string, unknown>, extra: { requestId: JsonRpcId }) => {
        const started = Date.now();
        const signal = AbortSignal.timeout(limits.tool_timeout_ms);
        const ctx: ToolContext = { env, requestId, limits, config, signal };
        let result: CallToolResult;
        try {
          result = await Promise.race([
            tool.run(args ?? {}, ctx),
            new Promise<never>((_, reject) => {
              if (signal.aborted) reject(signal.reason);
              signal.addEventListener("abort", () => reject(signal.reason), { once: true });
            }),
          ]);
        } catch (err) {
          result = toErrorResult(err, tool.name, limits.tool_timeout_ms);
        }
        const record = records.get(extra.requestId);
        if (record) {
          record.durationMs = Date.now() - started;
          record.result = result;
        }
        return result;
      }) as never,
    );
  }
  return server;
}

function resultText(result: CallToolResult | undefined): string {
  const first = result?.content?.find((c) => c.type === "text") as { text?: string } | undefined;
  return first?.text ?? "";
}

/** Reads tools/call outcomes from the JSON-RPC response (covers calls that failed before the tool ran). */
async function outcomesFromResponse(
  res: Response,
): Promise<Map<JsonRpcId, { result?: CallToolResult; error?: string }>> {
  const out = new Map<JsonRpcId, { result?: CallToolResult; error?: string }>();
  if (!(res.headers.get("content-type") ?? "").includes("application/json")) return out;
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return out;
  }
  for (const msg of Array.isArray(body) ? body : [body]) {
    const m = msg as { id?: JsonRpcId; result?: CallToolResult; error?: { message?: string } };
    if (m?.id === undefined || m.id === null) continue;
    out.set(m.id, m.error ? { error: m.error.message ?? "JSON-RPC error" } : { result: m.result });
  }
  return out;
}

async function witness(
  env: Record<string, unknown>,
  requestId: string,
  records: Map<JsonRpcId, CallRecord>,
  response: Response,
  started: number,
): Promise<void> {
  const finished = Date.now();
  const outcomes = await outcomesFromResponse(response);
  const ops: ObservedOp[] = [];
  for (const [id, record] of records) {
    const outcome = outcomes.get(id);
    const result = record.result ?? outcome?.result;
    const rpcError = outcome?.error;
    const success = !rpcError && result !== undefined && result.isError !== true;
    const text = rpcError ?? resultText(result);
    ops.push({
      timestamp: new Date(started).toISOString(),
      endpoint: record.tool,
      input_summary: summarize(record.args),
      success,
      duration_ms: record.durationMs ?? finished - started,
      output_summary: summarize(text),
      ...(success ? {} : { error: summarize(text || "no result", 500) }),
      source: "mcp",
    });
  }
  const observer = serviceClient(env, "observer", requestId);
  await Promise.all(
    ops.map((op) =>
      observer.json("/event", { method: "POST", json: op }).catch((err: Error) => {
        logger(env, "mcp").warn(`could not witness ${op.endpoint} to the observer: ${err.message}`);
      }),
    ),
  );
}

/**
 * Read-only mode: the SDK answers a call of an unregistered tool with `Tool x not found`; for a
 * writing tool the answer becomes readOnlyRefusal (still an isError result, same id), so the
 * caller learns why. Only the results of those ids are replaced; everything else is the SDK's.
 */
async function withRefusals(
  response: Response,
  refused: Map<JsonRpcId, CallToolResult>,
): Promise<Response> {
  if (
    refused.size === 0 ||
    !response.ok ||
    !(response.headers.get("content-type") ?? "").includes("application/json")
  )
    return response;
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    return response;
  }
  const swap = (msg: unknown) => {
    const m = msg as { id?: JsonRpcId; result?: unknown; error?: unknown };
    if (m?.id === undefined || m.id === null || !refused.has(m.id)) return msg;
    return { jsonrpc: "2.0", id: m.id, result: refused.get(m.id) };
  };
  const out = Array.isArray(body) ? body.map(swap) : swap(body);
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify(out), { status: response.status, headers });
}

/** Handles POST /mcp: one JSON-RPC message (or batch) in, JSON out. */
export async function handleMcpPost(
  request: Request,
  env: Record<string, unknown>,
  ctx: ExecutionContext,
  requestId: string,
  config: LakehouseConfig,
): Promise<Response> {
  const started = Date.now();
  const text = await request.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return Response.json(
      {
        jsonrpc: "2.0",
        error: { code: -32700, message: `Parse error: ${(err as Error).message}` },
        id: null,
      },
      { status: 400 },
    );
  }

  const records = new Map<JsonRpcId, CallRecord>();
  const refused = new Map<JsonRpcId, CallToolResult>();
  for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
    const m = msg as {
      method?: string;
      id?: JsonRpcId;
      params?: { name?: unknown; arguments?: unknown };
    };
    if (m && m.method === "tools/call" && (typeof m.id === "string" || typeof m.id === "number")) {
      const tool = typeof m.params?.name === "string" ? m.params.name : "(unnamed tool)";
      const record: CallRecord = { tool, args: m.params?.arguments ?? {} };
      if (config.mcpd.read_only && WRITING_TOOLS.has(tool)) {
        record.result = readOnlyRefusal(tool);
        refused.set(m.id, record.result);
      }
      records.set(m.id, record);
    }
  }

  const server = buildServer(env, requestId, config, records);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  const response = await withRefusals(
    await transport.handleRequest(request, { parsedBody: parsed }),
    refused,
  );
  // A request the transport refused (406 without the right Accept, 415, 400) ran no tool: only
  // calls that ran are witnessed, so a refused request changes nothing, the observer included.
  if (records.size > 0 && response.ok)
    ctx.waitUntil(witness(env, requestId, records, response.clone(), started));
  ctx.waitUntil(server.close().catch(() => undefined));
  return response;
}

/**
 * A tool's arguments as a strict object (issue #21): an argument the tool does not take is an
 * isError result naming it (`unknown argument "foo"`), never silently dropped; tools/list shows
 * `additionalProperties: false`.
 */
function strictArguments(shape: z.ZodRawShape) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? iss.keys.map((k) => `unknown argument ${JSON.stringify(k)}`).join("; ")
        : undefined,
  });
}

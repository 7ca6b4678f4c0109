// Tool results: text content capped in characters (and rows for SQL), saying so when
// capped, and errors as `isError` results carrying the service's own message.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { LakehouseError } from "../../../shared/errors";

/** Cuts `text` to `maxChars` characters and appends a note saying how much was left out. */
export function capText(text: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  const note = `\n… [truncated: showing ${maxChars} of ${text.length} characters; narrow the request (fewer rows, columns or items) to see the rest]`;
  return { text: text.slice(0, maxChars) + note, truncated: true };
}

export function jsonResult(value: unknown, maxChars: number, preface?: string): CallToolResult {
  const body = JSON.stringify(value);
  const { text } = capText(preface ? `${preface}\n${body}` : body, maxChars);
  return { content: [{ type: "text", text }] };
}

export function errorResult(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

/** Turns anything thrown inside a tool into an isError result with a message a model can act on. */
export function toErrorResult(err: unknown, tool: string, timeoutMs: number): CallToolResult {
  if (err instanceof LakehouseError)
    return errorResult(`${tool} failed (${err.status} ${err.code}): ${err.message}`);
  if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return errorResult(`${tool} failed: timed out after ${timeoutMs} ms ([mcpd].tool_timeout_ms)`);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/timed? ?out|aborted/i.test(message))
    return errorResult(`${tool} failed: timed out after ${timeoutMs} ms ([mcpd].tool_timeout_ms)`);
  return errorResult(`${tool} failed: ${message}`);
}

/** A one-line summary of a value for the observer (input/output summaries). */
export function summarize(value: unknown, max = 200): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? "");
  } catch {
    text = String(value);
  }
  text = text.replace(/\s+/g, " ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

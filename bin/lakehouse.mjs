#!/usr/bin/env node
// lakehouse: the command line for the lakehouse gateway (Node ≥ 20, no build step).
//   lakehouse mcp                       stdio MCP bridge to <gateway>/v1/mcp, for local agents
//   lakehouse ingest FILE --name N      CSV → dataset (progress; big files via multipart + from_key)
//   lakehouse sql "SELECT ..."          table output, or --csv / --json
//   lakehouse put FILE KEY | get KEY [FILE] | ls [PREFIX] | datasets | stats
// Gateway and token: --gateway / LAKEHOUSE_GATEWAY (default http://127.0.0.1:8787),
// --token / LAKEHOUSE_TOKEN. Exit codes: 0 ok, 1 the request failed, 2 usage error,
// 3 gateway unreachable, 4 refused by auth (401/403). See docs/cli.md.
import { createReadStream, createWriteStream, readFileSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { basename } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";

const VERSION = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;
const MiB = 1024 * 1024;

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, auth: 4 };

class CliError extends Error {
  constructor(message, exitCode = EXIT.failed) {
    super(message);
    this.exitCode = exitCode;
  }
}

const HELP = `lakehouse ${VERSION} — command line for the lakehouse gateway

usage: lakehouse <command> [arguments] [options]

commands:
  mcp                         bridge stdio MCP clients to <gateway>/v1/mcp
  ingest FILE --name NAME     ingest a CSV file as dataset NAME (--mode replace|append)
  sql "STATEMENT"             run one read-only SQL statement ("-" reads it from stdin)
  put FILE KEY                upload FILE to storage under KEY
  get KEY [FILE]              download KEY to FILE (default: standard output)
  ls [PREFIX]                 list storage objects under PREFIX
  datasets                    list datasets in the catalog
  stats                       the observer's live statistics
  help                        this text

options:
  --gateway URL               gateway base URL (env LAKEHOUSE_GATEWAY; default http://127.0.0.1:8787)
  --token TOKEN               bearer token (env LAKEHOUSE_TOKEN)
  --csv | --json              output format for sql, ls, datasets, stats (default: a table)
  --max-rows N                sql: at most N rows
  --mode replace|append       ingest: replace the dataset (default) or append rows
  --multipart-threshold BYTES ingest/put: files above this go through multipart upload (default 64 MiB)
  --part-size BYTES           multipart part size (default 16 MiB; at least 5 MiB except the last)
  --quiet                     no progress output
  --version                   print the version

exit codes: 0 ok · 1 the request failed · 2 usage error · 3 gateway unreachable · 4 refused by auth (401/403)
`;

// ---------------------------------------------------------------- arguments

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      gateway: { type: "string" },
      token: { type: "string" },
      name: { type: "string" },
      mode: { type: "string" },
      csv: { type: "boolean" },
      json: { type: "boolean" },
      "max-rows": { type: "string" },
      "multipart-threshold": { type: "string" },
      "part-size": { type: "string" },
      quiet: { type: "boolean", short: "q" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
  return { values, positionals };
}

function positiveInt(value, flag, min = 1) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(
      `${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`,
      EXIT.usage,
    );
  return n;
}

function gatewayUrl(values) {
  const raw = values.gateway ?? process.env.LAKEHOUSE_GATEWAY ?? "http://127.0.0.1:8787";
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--gateway: not a URL: ${JSON.stringify(raw)}`, EXIT.usage);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new CliError(
      `--gateway: expected an http(s) URL, got ${JSON.stringify(raw)}`,
      EXIT.usage,
    );
  return url.toString().replace(/\/+$/, "");
}

// ---------------------------------------------------------------- HTTP

class Gateway {
  constructor(base, token) {
    this.base = base;
    this.token = token || "";
  }

  headers(extra = {}) {
    const h = { "user-agent": `lakehouse-cli/${VERSION}`, ...extra };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  unreachable(err) {
    const cause = err?.cause?.code ?? err?.code ?? err?.cause?.message ?? err?.message;
    return new CliError(`cannot reach the gateway at ${this.base}: ${cause}`, EXIT.unreachable);
  }

  /** fetch against the gateway; transport failures become exit code 3. */
  async fetch(path, init = {}) {
    try {
      return await fetch(`${this.base}${path}`, { ...init, headers: this.headers(init.headers) });
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  /** JSON call: a non-2xx answer becomes a CliError with the server's code and message. */
  async json(path, init = {}) {
    const headers = { accept: "application/json", ...(init.headers ?? {}) };
    let body = init.body;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    }
    const res = await this.fetch(path, {
      method: init.method ?? (body ? "POST" : "GET"),
      headers,
      body,
    });
    return readJsonResponse(res, `${init.method ?? (body ? "POST" : "GET")} ${path}`);
  }

  /** Sends a file (or a byte range of it) with a known length, reporting progress; resolves to the parsed JSON answer. */
  upload(
    method,
    path,
    file,
    { start = 0, end, contentType = "application/octet-stream", onBytes } = {},
  ) {
    const size = (end ?? statSync(file).size) - start;
    const url = new URL(`${this.base}${path}`);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers: this.headers({
            "content-type": contentType,
            "content-length": String(size),
            accept: "application/json",
          }),
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve(readJsonText(res.statusCode ?? 0, text, `${method} ${path}`));
          });
          res.on("error", reject);
        },
      );
      req.on("error", (err) => reject(err instanceof CliError ? err : this.unreachable(err)));
      const counter = new Transform({
        transform(chunk, _enc, cb) {
          onBytes?.(chunk.length);
          cb(null, chunk);
        },
      });
      const stream =
        size === 0
          ? null
          : createReadStream(file, { start, end: start + size - 1, highWaterMark: 256 * 1024 });
      if (!stream) {
        req.end();
        return;
      }
      pipeline(stream, counter, req).catch((err) => {
        // The server may answer (e.g. 413) before it has read the whole body: that answer wins.
        if (!req.destroyed) req.destroy(err);
      });
    });
  }
}

async function readJsonResponse(res, what) {
  const text = await res.text();
  return readJsonText(res.status, text, what);
}

function readJsonText(status, text, what) {
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) {
    if (body === undefined)
      throw new CliError(`${what}: the gateway answered ${status} with a body that is not JSON`);
    return body;
  }
  throw httpError(status, body, text, what);
}

function httpError(status, body, text, what) {
  const exitCode = status === 401 || status === 403 ? EXIT.auth : EXIT.failed;
  if (body && body.error && typeof body.error.message === "string") {
    let hint = "";
    if (status === 401) hint = " (pass --token or set LAKEHOUSE_TOKEN)";
    return new CliError(`${body.error.code} (${status}): ${body.error.message}${hint}`, exitCode);
  }
  return new CliError(`${what}: HTTP ${status} ${String(text ?? "").slice(0, 200)}`, exitCode);
}

function keyPath(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}

// ---------------------------------------------------------------- progress

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
}

/** A progress bar on stderr: redrawn in place on a terminal, one line per 10 % otherwise. */
function progress(label, total, quiet) {
  const tty = Boolean(process.stderr.isTTY);
  const started = Date.now();
  let done = 0;
  let lastStep = -1;
  let lastDraw = 0;
  function draw(final = false) {
    if (quiet) return;
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    const rate = done / Math.max((Date.now() - started) / 1000, 0.001);
    if (tty) {
      const now = Date.now();
      if (!final && now - lastDraw < 80) return;
      lastDraw = now;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      process.stderr.write(
        `\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s  `,
      );
      if (final) process.stderr.write("\n");
    } else {
      const step = Math.floor(pct / 10);
      if (step === lastStep && !final) return;
      if (final && step === lastStep) return;
      lastStep = step;
      process.stderr.write(
        `${label} ${String(pct).padStart(3)}% ${formatBytes(done)} of ${formatBytes(total)}\n`,
      );
    }
  }
  draw();
  return {
    add(n) {
      done += n;
      draw();
    },
    finish() {
      done = total;
      draw(true);
    },
  };
}

function note(quiet, text) {
  if (!quiet) process.stderr.write(`${text}\n`);
}

// ---------------------------------------------------------------- uploads

/** Uploads FILE to KEY through storage multipart (parts of partSize), with progress; aborts on failure. */
async function multipartUpload(gw, file, key, size, partSize, quiet) {
  const path = `/v1/storage/multipart/${keyPath(key)}`;
  const { upload_id: uploadId } = await gw.json(path, { method: "POST" });
  const bar = progress("upload", size, quiet);
  const parts = [];
  try {
    for (let start = 0, part = 1; start < size; start += partSize, part++) {
      const end = Math.min(start + partSize, size);
      const res = await gw.upload(
        "PUT",
        `${path}?upload_id=${encodeURIComponent(uploadId)}&part=${part}`,
        file,
        { start, end, onBytes: (n) => bar.add(n) },
      );
      parts.push({ part_number: res.part_number ?? part, etag: res.etag });
    }
    bar.finish();
    return await gw.json(`${path}/complete?upload_id=${encodeURIComponent(uploadId)}`, {
      method: "POST",
      json: { parts },
    });
  } catch (err) {
    await gw
      .fetch(`${path}?upload_id=${encodeURIComponent(uploadId)}`, { method: "DELETE" })
      .catch(() => undefined);
    throw err;
  }
}

function fileSize(file) {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new CliError(`${file}: not a regular file`, EXIT.usage);
    return st.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      EXIT.usage,
    );
  }
}

function uploadLimits(values) {
  const threshold =
    positiveInt(values["multipart-threshold"], "--multipart-threshold", 0) ?? 64 * MiB;
  const partSize = positiveInt(values["part-size"], "--part-size", 5 * MiB) ?? 16 * MiB;
  return { threshold, partSize };
}

// ---------------------------------------------------------------- output

function table(headers, rows) {
  const text = (v) =>
    v === null || v === undefined ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v);
  // Long cells are cut at 80 characters, except in the last column (keys, ids: never cut what a user copies).
  const last = headers.length - 1;
  const cells = rows.map((r) =>
    r
      .map((v) => text(v).replace(/\s+/g, " "))
      .map((s, i) => (i < last && s.length > 80 ? `${s.slice(0, 79)}…` : s)),
  );
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)),
  );
  const numeric = headers.map(
    (_, i) =>
      rows.length > 0 &&
      rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === "number"),
  );
  const line = (r) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return (
    [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n") +
    "\n"
  );
}

function csvField(v) {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(headers, rows) {
  return [headers, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

function out(text) {
  process.stdout.write(text);
}

function render(values, headers, rows, raw) {
  if (values.json) out(JSON.stringify(raw, null, 2) + "\n");
  else if (values.csv) out(csv(headers, rows));
  else out(table(headers, rows));
}

// ---------------------------------------------------------------- commands

async function cmdIngest(gw, args, values) {
  const [file, ...extra] = args;
  if (!file || extra.length)
    throw new CliError(
      "usage: lakehouse ingest FILE --name NAME [--mode replace|append]",
      EXIT.usage,
    );
  if (!values.name) throw new CliError("ingest: --name is required (the dataset name)", EXIT.usage);
  const mode = values.mode ?? "replace";
  if (mode !== "replace" && mode !== "append")
    throw new CliError(
      `--mode: expected replace or append, got ${JSON.stringify(mode)}`,
      EXIT.usage,
    );
  const size = fileSize(file);
  const { threshold, partSize } = uploadLimits(values);
  const params = new URLSearchParams({ name: values.name, mode });
  let result;
  if (size > threshold) {
    const key = `_uploads/ingest/${values.name}/${Date.now()}-${basename(file).replace(/[^A-Za-z0-9._-]/g, "_")}`;
    note(
      values.quiet,
      `${formatBytes(size)} is above the multipart threshold: uploading to ${key} first`,
    );
    await multipartUpload(gw, file, key, size, partSize, values.quiet);
    params.set("from_key", key);
    note(values.quiet, `ingesting ${key} as ${values.name}…`);
    try {
      result = await gw.json(`/v1/ingest?${params}`, { method: "POST" });
    } finally {
      await gw
        .fetch(`/v1/storage/objects/${keyPath(key)}`, { method: "DELETE" })
        .catch(() => undefined);
    }
  } else {
    const bar = progress("upload", size, values.quiet);
    result = await gw.upload("POST", `/v1/ingest?${params}`, file, {
      contentType: "text/csv",
      onBytes: (n) => bar.add(n),
    });
    bar.finish();
  }
  if (values.json) out(JSON.stringify(result, null, 2) + "\n");
  else {
    const cols = (result.schema ?? [])
      .map((f) => `${f.name} ${f.type}${f.nullable ? "?" : ""}`)
      .join(", ");
    out(
      `ingested ${result.row_count} rows into ${result.name} (version ${result.version}${result.dataset_id ? `, id ${result.dataset_id}` : ""})\ncolumns: ${cols}\n`,
    );
  }
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

async function cmdSql(gw, args, values) {
  if (args.length !== 1)
    throw new CliError(
      'usage: lakehouse sql "SELECT ..." [--csv | --json] [--max-rows N]',
      EXIT.usage,
    );
  if (values.csv && values.json)
    throw new CliError("sql: choose one of --csv and --json", EXIT.usage);
  const sql = args[0] === "-" ? await readStdin() : args[0];
  if (!sql.trim()) throw new CliError("sql: the statement is empty", EXIT.usage);
  const maxRows = positiveInt(values["max-rows"], "--max-rows");
  const res = await gw.json("/v1/sql", {
    method: "POST",
    json: maxRows ? { sql, max_rows: maxRows } : { sql },
  });
  const headers = (res.columns ?? []).map((c) => c.name);
  render(values, headers, res.rows ?? [], res);
  if (!values.json && !values.csv)
    out(
      `(${res.row_count} row${res.row_count === 1 ? "" : "s"}${res.truncated ? ", truncated" : ""})\n`,
    );
  if (res.truncated && !values.quiet && (values.csv || values.json))
    process.stderr.write(`lakehouse: result truncated at ${res.row_count} rows\n`);
}

async function cmdPut(gw, args, values) {
  if (args.length !== 2) throw new CliError("usage: lakehouse put FILE KEY", EXIT.usage);
  const [file, key] = args;
  const size = fileSize(file);
  const { threshold, partSize } = uploadLimits(values);
  let res;
  if (size > threshold) res = await multipartUpload(gw, file, key, size, partSize, values.quiet);
  else {
    const bar = progress("upload", size, values.quiet);
    res = await gw.upload("PUT", `/v1/storage/objects/${keyPath(key)}`, file, {
      onBytes: (n) => bar.add(n),
    });
    bar.finish();
  }
  if (values.json) out(JSON.stringify(res, null, 2) + "\n");
  else out(`${res.key}\t${res.size}\t${res.etag}\n`);
}

async function cmdGet(gw, args, values) {
  if (args.length < 1 || args.length > 2)
    throw new CliError("usage: lakehouse get KEY [FILE]", EXIT.usage);
  const [key, file] = args;
  const res = await gw.fetch(`/v1/storage/objects/${keyPath(key)}`);
  if (!res.ok) throw httpError(res.status, await res.json().catch(() => null), "", `GET ${key}`);
  if (!res.body) return;
  const total = Number(res.headers.get("content-length") ?? 0);
  const toFile = file && file !== "-";
  const bar = toFile ? progress("download", total, values.quiet) : null;
  const counter = new Transform({
    transform(chunk, _enc, cb) {
      bar?.add(chunk.length);
      cb(null, chunk);
    },
  });
  const sink = toFile ? createWriteStream(file) : process.stdout;
  await pipeline(Readable.fromWeb(res.body), counter, sink);
  bar?.finish();
}

async function cmdLs(gw, args, values) {
  if (args.length > 1) throw new CliError("usage: lakehouse ls [PREFIX]", EXIT.usage);
  const prefix = args[0] ?? "";
  const objects = [];
  let cursor = null;
  do {
    const params = new URLSearchParams({ prefix });
    if (cursor) params.set("cursor", cursor);
    const page = await gw.json(`/v1/storage/list?${params}`);
    objects.push(...(page.objects ?? []));
    cursor = page.truncated ? page.cursor : null;
  } while (cursor);
  render(
    values,
    ["size", "uploaded", "key"],
    objects.map((o) => [o.size, o.uploaded, o.key]),
    { objects },
  );
}

async function cmdDatasets(gw, args, values) {
  if (args.length) throw new CliError("usage: lakehouse datasets", EXIT.usage);
  const res = await gw.json("/v1/catalog/list");
  const list = res.datasets ?? [];
  render(
    values,
    ["name", "rows", "version", "updated", "fingerprint"],
    list.map((d) => [
      d.name,
      d.row_count,
      d.version,
      d.updated_at,
      String(d.schema_fingerprint ?? "").slice(0, 12),
    ]),
    res,
  );
}

async function cmdStats(gw, args, values) {
  if (args.length) throw new CliError("usage: lakehouse stats", EXIT.usage);
  const s = await gw.json("/v1/observer/stats");
  if (values.json) return out(JSON.stringify(s, null, 2) + "\n");
  const rows = [
    ["total", s.total],
    ["successes", s.successes],
    ["failures", s.failures],
    ...Object.entries(s.by_source ?? {}).map(([k, v]) => [
      `source ${k}`,
      typeof v === "object" ? JSON.stringify(v) : v,
    ]),
  ];
  if (values.csv) return out(csv(["metric", "value"], rows));
  out(table(["metric", "value"], rows));
  const recent = s.recent_scenario_ops ?? [];
  if (recent.length) {
    out("\nrecent scenario ops:\n");
    out(
      table(
        ["time", "endpoint", "ok", "ms"],
        recent.map((o) => [o.timestamp, o.endpoint, o.success ? "yes" : "no", o.duration_ms]),
      ),
    );
  }
}

/** stdio ↔ Streamable HTTP: every message from the local client is POSTed to /v1/mcp and the answers written back. */
async function cmdMcp(gw, args) {
  if (args.length)
    throw new CliError("usage: lakehouse mcp [--gateway URL] [--token T]", EXIT.usage);
  const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
  const { StreamableHTTPClientTransport } = await import(
    "@modelcontextprotocol/sdk/client/streamableHttp.js"
  );
  const headers = gw.token ? { authorization: `Bearer ${gw.token}` } : {};
  const remote = new StreamableHTTPClientTransport(new URL(`${gw.base}/v1/mcp`), {
    requestInit: { headers },
  });
  const local = new StdioServerTransport();
  let closing = false;
  const shutdown = async (code) => {
    if (closing) return;
    closing = true;
    await Promise.allSettled([remote.close(), local.close()]);
    process.exit(code);
  };
  local.onmessage = (message) => {
    remote.send(message).catch((err) => {
      const text =
        err?.cause?.code === "ECONNREFUSED" || /fetch failed/.test(String(err?.message))
          ? `cannot reach the gateway at ${gw.base}: ${err?.cause?.code ?? err.message}`
          : String(err?.message ?? err);
      process.stderr.write(`lakehouse mcp: ${text}\n`);
      if (message && "id" in message && message.id !== undefined && "method" in message) {
        local
          .send({
            jsonrpc: "2.0",
            id: message.id,
            error: { code: -32000, message: `lakehouse gateway: ${text}` },
          })
          .catch(() => undefined);
      }
    });
  };
  remote.onmessage = (message) => {
    local.send(message).catch((err) => process.stderr.write(`lakehouse mcp: ${err.message}\n`));
  };
  remote.onerror = (err) => process.stderr.write(`lakehouse mcp: ${err.message}\n`);
  local.onerror = (err) => process.stderr.write(`lakehouse mcp: ${err.message}\n`);
  local.onclose = () => shutdown(0);
  process.stdin.on("end", () => shutdown(0));
  await remote.start();
  await local.start();
  process.stderr.write(`lakehouse mcp: bridging stdio to ${gw.base}/v1/mcp\n`);
  await new Promise(() => undefined); // runs until stdin closes
}

const COMMANDS = {
  ingest: cmdIngest,
  sql: cmdSql,
  put: cmdPut,
  get: cmdGet,
  ls: cmdLs,
  datasets: cmdDatasets,
  stats: cmdStats,
  mcp: cmdMcp,
};

export async function main(argv) {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new CliError(`${err.message}\nrun \`lakehouse help\` for usage`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  if (values.version) return out(`${VERSION}\n`);
  const [command, ...args] = positionals;
  if (values.help || !command || command === "help") return out(HELP);
  const run = COMMANDS[command];
  if (!run)
    throw new CliError(
      `unknown command ${JSON.stringify(command)} (commands: ${Object.keys(COMMANDS).join(", ")}, help)`,
      EXIT.usage,
    );
  const gw = new Gateway(gatewayUrl(values), values.token ?? process.env.LAKEHOUSE_TOKEN);
  await run(gw, args, values);
}

process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
});

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = EXIT.ok;
  },
  (err) => {
    if (err instanceof CliError) {
      process.stderr.write(`lakehouse: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`lakehouse: unexpected error: ${err?.stack ?? err}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);

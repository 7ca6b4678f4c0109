// Boots the whole system as a user runs it: one `wrangler dev` with every Worker,
// on free ports, with a temporary persist dir, and waits until /v1/health is ok.
// `restart()` kills it and boots again on the same state (kill-and-restart tests);
// `stop()` always tears the process group down, also when a test failed.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { devConfigArgs, WRANGLER_ENV } from "../../scripts/workers.mjs";

/** How long a `wrangler dev` start may take before the harness gives up on it. */
const START_WAIT_MS = 600_000;

const ROOT = resolve(import.meta.dirname, "../..");
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");

export interface SystemOptions {
  /** Vars for the gateway (`--var K:V`), e.g. AUTH_TOKEN or LH_* overrides. LAKEHOUSE_ENV defaults to "test". */
  vars?: Record<string, string>;
  /**
   * Vars for every Worker (LH_* overrides of a service's keys): `--var` reaches only the first
   * config of a multi-config `wrangler dev` (the gateway), so these go through the child's
   * environment with CLOUDFLARE_INCLUDE_PROCESS_ENV=true, which wrangler gives every Worker that
   * has no .dev.vars as its secrets. They are given to the gateway as vars too.
   */
  workerVars?: Record<string, string>;
  /** Reuse a persist dir (state from an earlier run); otherwise a fresh temporary one. */
  persistDir?: string;
  /** Extra wrangler dev arguments. */
  args?: string[];
}

export interface System {
  url: string;
  persistDir: string;
  /** fetch against the gateway; adds the bearer token when the system has one. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  json<T = any>(
    path: string,
    init?: RequestInit & { json?: unknown },
  ): Promise<{ status: number; body: T; headers: Headers }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolvePort(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const ownsDir = options.persistDir === undefined;
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "lakehouse-e2e-"));
  const vars: Record<string, string> = {
    LAKEHOUSE_ENV: "test",
    ...options.workerVars,
    ...options.vars,
  };
  const childEnv: Record<string, string> = options.workerVars
    ? { ...options.workerVars, CLOUDFLARE_INCLUDE_PROCESS_ENV: "true" }
    : {};
  let child: ChildProcess | undefined;
  let output = "";
  let url = "";

  async function boot(): Promise<void> {
    const port = await freePort();
    const inspectorPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    output = "";
    const args = [
      WRANGLER,
      "dev",
      ...devConfigArgs(),
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      persistDir,
      "--show-interactive-dev-session=false",
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      ...(options.args ?? []),
    ];
    child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...WRANGLER_ENV, CI: "1", NO_COLOR: "1", ...childEnv },
    });
    live.add(child);
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    // A hang guard, not a speed check: a cold start bundles eleven Workers, which took over 300 s
    // on a 2-core machine under a load average of 13. A start that fails exits and is reported at once.
    const started = Date.now();
    while (Date.now() - started < START_WAIT_MS) {
      if (child.exitCode !== null)
        throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output.slice(-4000)}`);
      try {
        const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) });
        if (res.ok && ((await res.json()) as { status: string }).status === "ok") return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `system did not become healthy within ${START_WAIT_MS / 1000} s:\n${output.slice(-4000)}`,
    );
  }

  async function stop(): Promise<void> {
    if (!child) return;
    const c = child;
    child = undefined;
    killGroup(c, "SIGTERM");
    if (!(await waitForExit(c, 8000))) {
      killGroup(c, "SIGKILL");
      await waitForExit(c, 5000);
    }
    live.delete(c);
  }

  try {
    await boot();
  } catch (err) {
    await stop();
    throw err;
  }

  const token = vars.AUTH_TOKEN;
  const system: System = {
    get url() {
      return url;
    },
    persistDir,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    async json(path, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined) headers.set("content-type", "application/json");
      const res = await system.fetch(path, {
        ...rest,
        headers,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON; keep text
      }
      return { status: res.status, body: body as any, headers: res.headers };
    },
    async restart() {
      await stop();
      await boot();
    },
    async stop() {
      await stop();
      if (ownsDir) rmSync(persistDir, { recursive: true, force: true });
    },
    logs: () => output,
  };
  return system;
}

/** The whole body of a request to a test server (the stand-ins for Cloudflare's APIs) as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (text += d));
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

// Auxiliary Workers for the workerd test projects: every other Worker of the system,
// bundled with esbuild and configured from its own wrangler.toml, so a Worker under
// test talks to real partners (real R2, real Durable Objects) through its bindings.
import { buildSync } from "esbuild";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const ALL_WORKERS = ["storage", "catalog", "ingest", "query", "embed", "vectors", "pathway", "matrix", "observer", "mcp"];

// One folder per vitest process: parallel runs must not read each other's half-written bundles.
const outDir = resolve("dist/test-aux", String(process.pid));

export function bundleWorker(worker: string): string {
  mkdirSync(outDir, { recursive: true });
  const outfile = resolve(outDir, `${worker}.js`);
  buildSync({
    entryPoints: [resolve(`workers/${worker}/src/index.ts`)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    loader: { ".toml": "text", ".sql": "text" },
    logLevel: "error",
  });
  return outfile;
}

/** Miniflare options for every Worker except `under`, with `extra` bindings merged in. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Miniflare worker options
export function auxiliaryWorkers(under: string, extraBindings: Record<string, unknown> = {}): any[] {
  return ALL_WORKERS.filter((w) => w !== under).map((w) => {
    const { workerOptions } = unstable_getMiniflareWorkerOptions(`workers/${w}/wrangler.toml`);
    const { rootPath: _rootPath, modulesRules: _rules, ...options } = workerOptions as Record<string, unknown>;
    // The Worker under test runs under the plugin's runner name, not `lakehouse-<under>`:
    // point other Workers' service bindings to it there, or workerd refuses to start.
    const services = options.serviceBindings as Record<string, { name?: string }> | undefined;
    if (services) {
      options.serviceBindings = Object.fromEntries(Object.entries(services).map(([binding, target]) =>
        [binding, target?.name === `lakehouse-${under}` ? { ...target, name: `vitest-plugin-runner-${under}` } : target]));
    }
    return {
      ...options,
      name: `lakehouse-${w}`,
      modules: true,
      scriptPath: bundleWorker(w),
      bindings: { ...(options.bindings as object), LAKEHOUSE_ENV: "test", ...extraBindings },
    };
  });
}

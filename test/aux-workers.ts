// Auxiliary Workers for the workerd test projects: every other Worker of the system,
// bundled with esbuild and configured from its own wrangler.toml, so a Worker under
// test talks to real partners (real R2, real Durable Objects) through its bindings;
// plus the lakehouse-fakes Worker (test/fakes) for the bindings that cannot run locally,
// which only these test configurations bind (FAKE_BINDINGS), never a wrangler.toml.

import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { buildSync } from "esbuild";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const ALL_WORKERS = [
  "storage",
  "catalog",
  "ingest",
  "query",
  "embed",
  "vectors",
  "pathway",
  "matrix",
  "observer",
  "mcp",
];

const FAKES = {
  name: "lakehouse-fakes",
  config: "test/fakes/wrangler.toml",
  entry: "test/fakes/index.ts",
};

/**
 * Test-only service bindings, by Worker: the fakes of Workers AI and Vectorize (entrypoints of
 * the lakehouse-fakes Worker), for `[embedd].provider = "workers-ai"` and
 * `[vectord].engine = "vectorize"` in tests. Bound to the Worker under test (vitest.config.ts)
 * and to the same Worker when it runs as an auxiliary.
 */
export const FAKE_BINDINGS: Record<string, Record<string, { name: string; entrypoint: string }>> = {
  embed: { AI: { name: FAKES.name, entrypoint: "FakeAi" } },
  vectors: {
    VECTORIZE_ANY_COSINE: { name: FAKES.name, entrypoint: "FakeVectorizeCosine" },
    VECTORIZE_ANY_EUCLIDEAN: { name: FAKES.name, entrypoint: "FakeVectorizeEuclidean" },
    VECTORIZE_ANY_DOT: { name: FAKES.name, entrypoint: "FakeVectorizeDot" },
  },
};

// One folder per vitest process: parallel runs must not read each other's half-written bundles.
const outDir = resolve("dist/test-aux", String(process.pid));

/**
 * Bundles a Worker into `<outDir>/<worker>/index.js`. Its `.wasm` imports (`import m from
 * "./x.wasm"`, the wrangler CompiledWasm rule; only from its src/ folder itself) stay imports,
 * of files copied beside the bundle and returned as extra modules for Miniflare to load as
 * compiled WebAssembly: esbuild has no loader for that, wrangler and the plugin do it themselves.
 * `entry` is for a Worker outside workers/ (the fakes).
 */
export function bundleWorker(
  worker: string,
  entry = `workers/${worker}/src/index.ts`,
): { scriptPath: string; wasm: string[] } {
  const dir = resolve(outDir, worker);
  mkdirSync(dir, { recursive: true });
  const outfile = resolve(dir, "index.js");
  buildSync({
    entryPoints: [resolve(entry)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*", "*.wasm"],
    loader: { ".toml": "text", ".sql": "text" },
    logLevel: "error",
  });
  const src = resolve(entry, "..");
  const wasm = readdirSync(src)
    .filter((f) => f.endsWith(".wasm"))
    .map((f) => {
      copyFileSync(resolve(src, f), resolve(dir, f));
      return resolve(dir, f);
    });
  return { scriptPath: outfile, wasm };
}

/** Miniflare options for the lakehouse-fakes Worker. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Miniflare worker options
function fakesWorker(): any {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(FAKES.config);
  const {
    rootPath: _rootPath,
    modulesRules: _rules,
    ...options
  } = workerOptions as Record<string, unknown>;
  const { scriptPath } = bundleWorker("fakes", FAKES.entry);
  return { ...options, name: FAKES.name, modules: [{ type: "ESModule", path: scriptPath }] };
}

/** Miniflare options for every Worker except `under` (and the fakes), with `extra` bindings merged in. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Miniflare worker options
export function auxiliaryWorkers(
  under: string,
  extraBindings: Record<string, unknown> = {},
): any[] {
  const workers = ALL_WORKERS.filter((w) => w !== under).map((w) => {
    const { workerOptions } = unstable_getMiniflareWorkerOptions(`workers/${w}/wrangler.toml`);
    const {
      rootPath: _rootPath,
      modulesRules: _rules,
      ...options
    } = workerOptions as Record<string, unknown>;
    // The Worker under test runs under the plugin's runner name, not `lakehouse-<under>`:
    // point other Workers' service bindings to it there, or workerd refuses to start.
    const services = options.serviceBindings as Record<string, { name?: string }> | undefined;
    if (services) {
      options.serviceBindings = Object.fromEntries(
        Object.entries(services).map(([binding, target]) => [
          binding,
          target?.name === `lakehouse-${under}`
            ? { ...target, name: `vitest-plugin-runner-${under}` }
            : target,
        ]),
      );
    }
    if (FAKE_BINDINGS[w])
      options.serviceBindings = {
        ...(options.serviceBindings as object | undefined),
        ...FAKE_BINDINGS[w],
      };
    const { scriptPath, wasm } = bundleWorker(w);
    return {
      ...options,
      name: `lakehouse-${w}`,
      modules: [
        { type: "ESModule", path: scriptPath },
        ...wasm.map((path) => ({ type: "CompiledWasm", path })),
      ],
      bindings: { ...(options.bindings as object), LAKEHOUSE_ENV: "test", ...extraBindings },
    };
  });
  return [...workers, fakesWorker()];
}

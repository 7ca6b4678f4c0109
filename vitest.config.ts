// Test projects: one per Worker that has unit tests (run inside workerd with that
// Worker's own bindings), plus the end-to-end suite (Node, drives `wrangler dev`).

import { existsSync, readdirSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { auxiliaryWorkers, FAKE_BINDINGS } from "./test/aux-workers.ts";

/** The projects named on the command line (`--project x`, `--project=x`), or null for all. */
function selectedProjects(argv: string[]): Set<string> | null {
  const names = new Set<string>();
  argv.forEach((a, i) => {
    if (a === "--project" && argv[i + 1]) names.add(argv[i + 1]!);
    else if (a.startsWith("--project=")) names.add(a.slice("--project=".length));
  });
  return names.size ? names : null;
}
const selected = selectedProjects(process.argv);

/** The SQL fuzzer's knobs (workers/query/test/fuzz-sql.test.ts), passed as bindings when set: workerd sees no process.env. */
const FUZZ_BINDINGS = Object.fromEntries(
  ["FUZZ_SQL_SEED", "FUZZ_SQL_RUNS", "FUZZ_SQL_PATH"].flatMap((k) =>
    process.env[k] ? [[k, process.env[k]!]] : [],
  ),
);

function workerProject(
  name: string,
  configPath: string,
  include: string[],
): TestProjectInlineConfiguration {
  // Bundling a project's auxiliary Workers takes minutes on a loaded machine: only for projects that run.
  if (selected && !selected.has(name)) return { test: { name, include } };
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath },
        miniflare: {
          bindings: { LAKEHOUSE_ENV: "test", ...(name === "query" ? FUZZ_BINDINGS : {}) },
          // The fakes of Workers AI / Vectorize: bound here (and to the auxiliaries), never in a wrangler.toml.
          serviceBindings: FAKE_BINDINGS[name] ?? {},
          workers: auxiliaryWorkers(name),
        },
      }),
    ],
    // Generous per-test time: some tests do real work (graph builds, Parquet) and CI machines are shared.
    test: { name, include, testTimeout: 60_000 },
  };
}

const workerNames = readdirSync("workers").filter(
  (w) =>
    w !== "gateway" &&
    existsSync(`workers/${w}/test`) &&
    readdirSync(`workers/${w}/test`).some((f) => f.endsWith(".test.ts")),
);

export default defineConfig({
  test: {
    projects: [
      workerProject("gateway", "./wrangler.toml", [
        "shared/test/**/*.test.ts",
        "workers/gateway/test/**/*.test.ts",
      ]),
      ...workerNames.map((w) =>
        workerProject(w, `./workers/${w}/wrangler.toml`, [`workers/${w}/test/**/*.test.ts`]),
      ),
      {
        // Pure Node tests of shared code (shared/iceberg), checked against independent readers.
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          // Hang guards, not speed checks: on a loaded 2-core machine one e2e test took 144 s and a
          // cold `wrangler dev` start (eleven Workers bundled) over 300 s.
          testTimeout: 300_000,
          hookTimeout: 720_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

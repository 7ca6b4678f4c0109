// npm run fuzz:sql -- [--runs N] [--seed S] [--path P]: the differential SQL fuzzer
// (workers/query/test/fuzz-sql.test.ts) at any size. It runs the same property as `npm test`
// (2,000 statements from the default seed), inside workerd through vitest; the settings reach
// the test as bindings (FUZZ_SQL_RUNS, FUZZ_SQL_SEED, FUZZ_SQL_PATH, read by vitest.config.ts).
// A failure prints the seed and fast-check's path; `--seed S --path P` replays that case.
import { spawnSync } from "node:child_process";
import { WRANGLER_ENV } from "./workers.mjs";

const FLAGS = { "--runs": "FUZZ_SQL_RUNS", "--seed": "FUZZ_SQL_SEED", "--path": "FUZZ_SQL_PATH" };
const settings = {};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split("=", 2);
  const key = FLAGS[flag];
  const value = inline ?? args[++i];
  if (!key || value === undefined) {
    console.error(
      `fuzz:sql: unknown or incomplete argument ${JSON.stringify(args[i] ?? flag)}; use --runs N, --seed S, --path P`,
    );
    process.exit(2);
  }
  if (key !== "FUZZ_SQL_PATH" && !/^-?[0-9]+$/.test(value)) {
    console.error(`fuzz:sql: ${flag} must be an integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  settings[key] = value;
}
const env = { ...process.env, ...WRANGLER_ENV, ...settings };
const r = spawnSync(
  "vitest",
  ["run", "--project", "query", "workers/query/test/fuzz-sql.test.ts"],
  { stdio: "inherit", env },
);
process.exit(r.status ?? 1);

// npm run typecheck: generate each Worker's binding types from its wrangler.toml
// (`wrangler types`), then run tsc over each Worker, the test-only fakes Worker (test/fakes)
// and the Node-side code.
import { execFileSync } from "node:child_process";
import { configPath, WORKERS, WRANGLER_ENV } from "./workers.mjs";

const env = { ...process.env, ...WRANGLER_ENV };
let failed = false;
for (const worker of WORKERS) {
  execFileSync(
    "wrangler",
    ["types", "-c", configPath(worker), `workers/${worker}/worker-configuration.d.ts`],
    { env, stdio: ["ignore", "ignore", "inherit"] },
  );
}
execFileSync(
  "wrangler",
  ["types", "-c", "test/fakes/wrangler.toml", "test/fakes/worker-configuration.d.ts"],
  { env, stdio: ["ignore", "ignore", "inherit"] },
);
for (const project of [
  ...WORKERS.map((w) => `workers/${w}/tsconfig.json`),
  "test/fakes/tsconfig.json",
  "tsconfig.json",
]) {
  try {
    execFileSync("tsc", ["-p", project], { env, stdio: "inherit" });
    console.log(`typecheck ok  ${project}`);
  } catch {
    console.error(`typecheck FAILED  ${project}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

// npm test: what CI runs. Lint and format check (Biome), type-check every Worker, dry-run build every bundle,
// then the whole vitest suite (unit tests in workerd per Worker, then e2e).
// Extra arguments go to vitest (npm test -- --project e2e).
import { spawnSync } from "node:child_process";
import { WRANGLER_ENV } from "./workers.mjs";

const env = { ...process.env, ...WRANGLER_ENV };
const extra = process.argv.slice(2);
const steps =
  extra.length > 0
    ? [["vitest", ["run", ...extra]]]
    : [
        ["npm", ["run", "lint"]],
        ["node", ["scripts/typecheck.mjs"]],
        ["node", ["scripts/build.mjs"]],
        ["vitest", ["run"]],
      ];
for (const [cmd, args] of steps) {
  console.log(`\n▶ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env });
  if (r.status !== 0) {
    console.error(`✗ ${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

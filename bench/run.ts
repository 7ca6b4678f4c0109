// npm run bench [suite...]: boots the system once, runs each suite side by side with
// its peer, writes bench/results/<suite>.json and bench/results/README.md (all tables).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { startSystem } from "../test/e2e/harness.ts";
import type { SuiteResult } from "./lib.ts";

const SUITES = readdirSync("bench/suites")
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.replace(/\.ts$/, ""));
const wanted = process.argv.slice(2);
const selected = wanted.length ? SUITES.filter((s) => wanted.includes(s)) : SUITES;
if (wanted.length && selected.length !== wanted.length) {
  console.error(
    `unknown suite(s): ${wanted.filter((w) => !SUITES.includes(w)).join(", ")} (known: ${SUITES.join(", ")})`,
  );
  process.exit(2);
}

function table(r: SuiteResult): string {
  const lines = [
    `## ${r.title} (\`${r.name}\`)`,
    "",
    `| case | ${r.ours_label} | ${r.peer_label} | unit | ratio (ours/peer) |`,
    "|---|---:|---:|---|---:|",
    ...r.rows.map(
      (x) =>
        `| ${x.case}${x.note ? ` (${x.note})` : ""} | ${x.ours} | ${x.peer} | ${x.unit} | ${x.ratio} |`,
    ),
    "",
    ...r.notes.map((n) => `- ${n}`),
    "",
  ];
  return lines.join("\n");
}

mkdirSync("bench/results", { recursive: true });
const sys = await startSystem({ vars: { AUTH_TOKEN: "bench-token" } });
let failed = false;
try {
  for (const name of selected) {
    console.log(`\n▶ bench ${name}`);
    try {
      const mod = (await import(`./suites/${name}.ts`)) as {
        run: (s: typeof sys) => Promise<SuiteResult>;
      };
      const result = await mod.run(sys);
      const stamped = {
        ...result,
        measured_at: new Date().toISOString(),
        machine: `${cpus().length} cores, ${process.version}`,
      };
      writeFileSync(`bench/results/${name}.json`, JSON.stringify(stamped, null, 2) + "\n");
      console.log(table(result));
    } catch (err) {
      failed = true;
      console.error(`bench ${name} failed:`, err);
    }
  }
} finally {
  await sys.stop();
}

// The summary holds the latest result of every suite, measured together or not.
const all = SUITES.filter((s) => existsSync(`bench/results/${s}.json`)).map(
  (s) =>
    JSON.parse(readFileSync(`bench/results/${s}.json`, "utf8")) as SuiteResult & {
      measured_at: string;
      machine: string;
    },
);
const md = [
  "# Benchmark results",
  "",
  "Written by `npm run bench`; each table is one suite, ours and the peer measured in the same run.",
  "",
  ...all.map((r) => `${table(r)}_measured ${r.measured_at} on ${r.machine}_\n`),
].join("\n");
writeFileSync("bench/results/README.md", md);
process.exit(failed ? 1 : 0);

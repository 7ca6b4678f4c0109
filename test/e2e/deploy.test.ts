// npm run deploy (scripts/deploy.mjs), offline: the real `--dry-run` proves the order and the
// environment of every Worker against the wrangler.toml files; a fake `wrangler` first on PATH
// plays Cloudflare's answers for the pre-flight checks and the failures (missing secret, index,
// bucket, a not-yet-deployed Worker in the catalog ↔ query cycle).

import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { parse } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configPath, WORKERS } from "../../scripts/workers.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const SCRIPT = join(ROOT, "scripts/deploy.mjs");
const INDEXES = JSON.stringify([
  { name: "lakehouse-768-cosine" },
  { name: "lakehouse-768-euclidean" },
  { name: "lakehouse-768-dot" },
]);
const SECRETS = JSON.stringify([{ name: "AUTH_TOKEN", type: "secret_text" }]);

interface Step {
  worker: string;
  args: string;
  ahead: string[]; // bound services the plan deploys after this Worker (a cycle)
}

/** The plan deploy.mjs prints first: `  N. worker   wrangler deploy ... [(binds x, deployed after it)]`. */
function planOf(stdout: string): Step[] {
  return [
    ...stdout.matchAll(
      /^ +\d+\. (\w+) +wrangler (deploy [^(\n]*?)(?: +\(binds (.+), deployed after it\))?$/gm,
    ),
  ].map((m) => ({
    worker: m[1]!,
    args: m[2]!,
    ahead: m[3] ? m[3].split(", ") : [],
  }));
}

/** What a Worker's wrangler.toml says: production environment or not, its script name, the services it binds there. */
function configOf(worker: string): { production: boolean; script: string; services: string[] } {
  const text = readFileSync(join(ROOT, configPath(worker)), "utf8");
  const toml = parse(text) as any;
  const production = /^\[env\.production\]/m.test(text);
  const section = production ? toml.env.production : toml;
  return {
    production,
    script: section.name ?? toml.name,
    services: (section.services ?? []).map((s: { service: string }) => s.service),
  };
}

interface Rule {
  match: string; // substring of the joined arguments
  times?: number; // answer like this only the first n matching calls
  status?: number;
  stdout?: string;
  stderr?: string;
}

const FAKE = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
const line = args.join(" ");
const log = process.env.FAKE_WRANGLER_LOG;
const prior = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\\n").filter(Boolean) : [];
fs.appendFileSync(log, line + "\\n");
for (const rule of JSON.parse(process.env.FAKE_WRANGLER_RULES || "[]")) {
  if (!line.includes(rule.match)) continue;
  if (rule.times !== undefined && prior.filter((l) => l.includes(rule.match)).length >= rule.times) continue;
  if (rule.stdout) process.stdout.write(rule.stdout);
  if (rule.stderr) process.stderr.write(rule.stderr);
  process.exit(rule.status ?? 0);
}
`;

function run(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (status) => done({ status: status ?? 1, stdout, stderr }));
  });
}

/** The Workers deployed, in order, from the log of wrangler calls ("placeholder" for a placeholder). */
function deploys(calls: string[]): string[] {
  return calls
    .filter((c) => c.startsWith("deploy "))
    .map((c) =>
      c.includes("lakehouse-placeholder-")
        ? "placeholder"
        : c === "deploy -c wrangler.toml"
          ? "gateway"
          : /workers\/(\w+)\//.exec(c)![1]!,
    );
}

describe("npm run deploy", () => {
  let dir: string;
  let fakeBin: string;
  let n = 0;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lakehouse-deploy-test-"));
    fakeBin = join(dir, "bin");
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, "wrangler"), FAKE);
    chmodSync(join(fakeBin, "wrangler"), 0o755);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function withFake(rules: Rule[], args: string[] = []) {
    const log = join(dir, `calls-${++n}.log`);
    const r = await run(args, {
      PATH: `${fakeBin}${delimiter}${process.env.PATH}`,
      FAKE_WRANGLER_LOG: log,
      FAKE_WRANGLER_RULES: JSON.stringify(rules),
    });
    const calls = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    return { ...r, calls };
  }

  it("--dry-run deploys every Worker offline, each after the Workers it binds, the gateway last", async () => {
    const outdir = join(dir, "dry");
    const r = await run(["--dry-run", "--outdir", outdir]);
    expect(r.status, r.stderr).toBe(0);
    const plan = planOf(r.stdout);
    const order = plan.map((s) => s.worker);
    expect([...order].sort()).toEqual([...WORKERS].sort());
    expect(order.at(-1)).toBe("gateway");
    const scripts = new Map(WORKERS.map((w) => [configOf(w).script, w]));
    for (const [i, step] of plan.entries()) {
      const config = configOf(step.worker);
      expect(step.args, step.worker).toBe(
        `deploy -c ${configPath(step.worker)}${config.production ? " --env production" : ""}`,
      );
      for (const service of config.services) {
        const bound = scripts.get(service);
        if (!bound || bound === step.worker || step.ahead.includes(service)) continue;
        expect(order.indexOf(bound), `${step.worker} binds ${service}`).toBeLessThan(i);
      }
      for (const service of step.ahead)
        expect(
          order.indexOf(scripts.get(service)!),
          `${step.worker} ahead of ${service}`,
        ).toBeGreaterThan(i);
    }
    // the steps ran in the plan's order, each a wrangler dry run into its own folder
    const ran = [...r.stdout.matchAll(/^▶ \[\d+\/\d+\] (\w+) \([\w-]+\): wrangler (.*)$/gm)].map(
      (m) => ({ worker: m[1]!, args: m[2]! }),
    );
    expect(ran.map((s) => s.worker)).toEqual(order);
    for (const [i, step] of ran.entries()) {
      expect(step.args).toBe(`${plan[i]!.args} --dry-run --outdir ${join(outdir, step.worker)}`);
      expect(existsSync(join(outdir, step.worker, "index.js")), step.worker).toBe(true);
    }
    expect(r.stdout).toMatch(/pre-flight skipped \(dry run\)/);
    expect(r.stdout).toContain(`dry run ok: ${order.join(" → ")}`);
  }, 110_000);

  it("checks secrets and Vectorize indexes before deploying anything", async () => {
    const r = await withFake([
      {
        match: "secret list",
        status: 1,
        stderr:
          "✘ [ERROR] A request to the Cloudflare API failed.\n  workers.api.error.script_not_found [code: 10007]\n",
      },
      { match: "vectorize list", stdout: JSON.stringify([{ name: "lakehouse-768-cosine" }]) },
    ]);
    expect(r.status).toBe(1);
    expect(deploys(r.calls)).toEqual([]);
    expect(r.calls).toContain("secret list -c wrangler.toml --format json");
    expect(r.stderr).toMatch(/nothing deployed/);
    expect(r.stderr).toContain("lakehouse-gateway needs the secret AUTH_TOKEN");
    expect(r.stderr).toContain("openssl rand -hex 32 | npx wrangler secret put AUTH_TOKEN");
    expect(r.stderr).toContain(
      "npx wrangler vectorize create lakehouse-768-euclidean --dimensions=768 --metric=euclidean",
    );
    expect(r.stderr).toContain(
      "npx wrangler vectorize create lakehouse-768-dot --dimensions=768 --metric=dot-product",
    );
    expect(r.stderr).not.toContain("vectorize create lakehouse-768-cosine");
  });

  it("stops at the first failing Worker, names it, and says what to create", async () => {
    const r = await withFake([
      { match: "secret list", stdout: SECRETS },
      { match: "vectorize list", stdout: INDEXES },
      {
        match: "deploy -c workers/query/",
        status: 1,
        stderr:
          "✘ [ERROR] A request to the Cloudflare API (/accounts/x/workers/scripts/lakehouse-query) failed.\n  R2 bucket 'lakehouse-lake' not found. Please use a different name and try again. [code: 10085]\n",
      },
    ]);
    expect(r.status).toBe(1);
    const order = planOf(r.stdout).map((s) => s.worker);
    expect(deploys(r.calls)).toEqual(order.slice(0, order.indexOf("query") + 1));
    expect(r.stderr).toContain(
      "deploy stopped at query (lakehouse-query, -c workers/query/wrangler.toml)",
    );
    expect(r.stderr).toContain("npx wrangler r2 bucket create lakehouse-lake");
    expect(r.stderr).toContain(`not deployed: ${order.slice(order.indexOf("query")).join(", ")}`);
  });

  it("on a first deploy, puts a placeholder under a Worker of the catalog ↔ query cycle that is not there yet", async () => {
    // the plan breaks the cycle at one Worker, which binds a service deployed after it
    const plan = planOf(
      (await withFake([{ match: "", status: 1 }], ["--dry-run", "--outdir", join(dir, "plan")]))
        .stdout,
    );
    const first = plan.find((s) => s.ahead.length > 0);
    expect(first, "the plan has no cycle (docs/deploy.md describes catalog ↔ query)").toBeDefined();
    const target = first!.ahead[0]!;
    const config = configPath(first!.worker);
    const r = await withFake([
      { match: "secret list", stdout: SECRETS },
      { match: "vectorize list", stdout: INDEXES },
      {
        match: `deploy -c ${config}`,
        times: 1,
        status: 1,
        stderr: `✘ [ERROR] A request to the Cloudflare API failed.\n  Could not resolve service binding 'X'. Target script '${target}' not found. Please verify the target script and try again. [code: 10143]\n`,
      },
    ]);
    expect(r.status, r.stderr).toBe(0);
    const expected = plan.map((s) => s.worker);
    expected.splice(expected.indexOf(first!.worker) + 1, 0, "placeholder", first!.worker);
    expect(deploys(r.calls)).toEqual(expected);
    expect(r.stdout).toContain(`▶ placeholder ${target}`);
  });
});

// npm run deploy: `wrangler deploy` of every Worker, each after the Workers it binds (read
// from the [[services]] of each wrangler.toml and the script_name of its Durable Object
// bindings, in the environment that is deployed) and the
// gateway last; `--env production` for a Worker whose wrangler.toml has [env.production].
// Before deploying anything it checks (wrangler secret list, wrangler vectorize list) that the
// secrets the configuration needs and the Vectorize indexes the configs bind exist. It stops at
// the first failure, naming the Worker, and says what to create when Cloudflare reports a
// missing resource. Deploys are idempotent: fix the cause and run it again.
//   npm run deploy -- --dry-run [--outdir DIR]   the same plan offline (wrangler deploy --dry-run)
//   npm run deploy -- --no-preflight              skip the secret and index checks
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "smol-toml";
import { configPath, WORKERS, WRANGLER_ENV } from "./workers.mjs";

process.chdir(resolve(import.meta.dirname, ".."));
const env = { ...process.env, ...WRANGLER_ENV };

const USAGE = "usage: npm run deploy [-- --dry-run [--outdir DIR]] [-- --no-preflight]";
const argv = process.argv.slice(2);
let dryRun = false;
let preflight = true;
let outdir = resolve("dist/deploy");
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--dry-run") dryRun = true;
  else if (a === "--no-preflight") preflight = false;
  else if (a === "--outdir" && argv[i + 1]) outdir = resolve(argv[++i]);
  else if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  } else {
    console.error(`unknown argument ${a}\n${USAGE}`);
    process.exit(2);
  }
}

// ── the plan ────────────────────────────────────────────────────────────────────────────

/** One Worker as it will be deployed: its config, environment and the bindings that matter here. */
function describeWorker(worker) {
  const config = configPath(worker);
  const text = readFileSync(config, "utf8");
  const toml = parse(text);
  const production = /^\[env\.production\]/m.test(text); // the same test as scripts/build.mjs
  // Bindings and vars are not inherited by an environment: take them from the section deployed.
  const section = production ? toml.env.production : toml;
  return {
    worker,
    config,
    env: production ? "production" : undefined,
    script: production ? (section.name ?? `${toml.name}-production`) : toml.name,
    compatibilityDate: toml.compatibility_date,
    // Workers it binds: its service bindings, and the scripts of Durable Objects it binds across scripts (script_name).
    services: [
      ...(section.services ?? []).map((s) => s.service),
      ...(section.durable_objects?.bindings ?? []).flatMap((b) =>
        b.script_name ? [b.script_name] : [],
      ),
    ],
    vectorize: (section.vectorize ?? []).map((v) => v.index_name),
    vars: section.vars ?? {},
  };
}

/**
 * WORKERS in deploy order: each Worker after the Workers it binds (ties keep WORKERS' order). A
 * cycle (catalog ↔ query) is broken at the Worker with the fewest unmet bindings; its `ahead`
 * lists the services it binds that are deployed after it. The gateway goes last.
 */
function deployOrder(entries) {
  const byScript = new Map(entries.map((e) => [e.script, e]));
  const done = new Set();
  const order = [];
  const unmet = (e) => e.services.filter((s) => s !== e.script && byScript.has(s) && !done.has(s));
  const rest = entries.filter((e) => e.worker !== "gateway");
  while (rest.length > 0) {
    let next = rest.find((e) => unmet(e).length === 0);
    if (!next) next = rest.reduce((best, e) => (unmet(e).length < unmet(best).length ? e : best));
    order.push({ ...next, ahead: unmet(next) });
    done.add(next.script);
    rest.splice(rest.indexOf(next), 1);
  }
  const gateway = entries.find((e) => e.worker === "gateway");
  if (gateway) order.push({ ...gateway, ahead: unmet(gateway) });
  return order;
}

const plan = deployOrder(WORKERS.map(describeWorker));
const wranglerArgs = (e) => ["deploy", "-c", e.config, ...(e.env ? ["--env", e.env] : [])];

console.log(
  `deploy plan${dryRun ? " (dry run: nothing is uploaded)" : ""}: each Worker after the Workers it binds, the gateway last`,
);
plan.forEach((e, i) => {
  const note = e.ahead.length ? `  (binds ${e.ahead.join(", ")}, deployed after it)` : "";
  console.log(
    `  ${String(i + 1).padStart(2)}. ${e.worker.padEnd(9)} wrangler ${wranglerArgs(e).join(" ")}${note}`,
  );
});

// ── wrangler ────────────────────────────────────────────────────────────────────────────

/** Runs wrangler, showing its output as it comes and keeping it for the error messages. */
function wrangler(args, { quiet = false, cwd } = {}) {
  return new Promise((done) => {
    let out = "";
    const child = spawn("wrangler", args, { env, cwd, stdio: ["inherit", "pipe", "pipe"] });
    child.stdout.on("data", (d) => {
      out += d;
      if (!quiet) process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      out += d;
      if (!quiet) process.stderr.write(d);
    });
    child.on("error", (err) => {
      const hint =
        err.code === "ENOENT"
          ? " (run through `npm run deploy`, which puts node_modules/.bin on PATH)"
          : "";
      done({ status: 127, out: `${out}\ncannot start wrangler: ${err.message}${hint}` });
    });
    child.on("close", (status, signal) => done({ status: status ?? (signal ? 1 : 0), out }));
  });
}

const NOT_LOGGED_IN =
  /not logged in|wrangler login|authentication error|\[code: 10000\]|CLOUDFLARE_API_TOKEN/i;
const SCRIPT_NOT_FOUND =
  /script_not_found|\[code: 10007\]|this Worker does not exist|There doesn't seem to be a Worker called/i;

function vectorizeCreate(index) {
  const m = /-(\d+)-(cosine|euclidean|dot)$/.exec(index);
  return m
    ? `npx wrangler vectorize create ${index} --dimensions=${m[1]} --metric=${m[2] === "dot" ? "dot-product" : m[2]}`
    : `npx wrangler vectorize create ${index} --dimensions=<d> --metric=<metric>`;
}

/** What Cloudflare said is missing, and what to do, from wrangler's output of a failed deploy. */
function diagnose(e, out) {
  let m;
  if (
    (m = /Could not resolve service binding '([^']+)'\. Target script '([^']+)' not found/i.exec(
      out,
    )) ||
    (m = /could not resolve binding "([^"]+)":\s*script\s+"([^"]+)" not found/i.exec(out))
  ) {
    return {
      missingScript: m[2],
      advice: `${e.script} binds ${m[2]} (${m[1]}), which is not deployed: deploy it first`,
    };
  }
  if (/\[code: 1014[34]\]|service_binding_error/i.test(out)) {
    return {
      advice: `a service that ${e.script} binds (${e.services.join(", ")}) is not deployed: deploy it first`,
    };
  }
  if ((m = /R2 bucket '([^']+)' not found/i.exec(out)) || /\[code: 10085\]/.test(out)) {
    const bucket = m?.[1] ?? "lakehouse-lake";
    return {
      advice: `the R2 bucket ${bucket} does not exist (wrangler creates it only when the token may): npx wrangler r2 bucket create ${bucket}`,
    };
  }
  if (/\[code: 10042\]|enable R2/i.test(out))
    return {
      advice:
        "R2 is not enabled on this account: enable it in the Cloudflare dashboard (R2), then npx wrangler r2 bucket create lakehouse-lake",
    };
  if (
    /\[code: 10159\]/.test(out) ||
    (/vectorize/i.test(out) && /not found|does not exist/i.test(out))
  ) {
    return {
      advice: `a Vectorize index it binds does not exist; create them first (docs/vectors.md#deploying):\n${e.vectorize.map((i) => `      ${vectorizeCreate(i)}`).join("\n")}`,
    };
  }
  if (
    (m = /Cannot create binding for class .* in script '([^']+)' that does not exist/i.exec(out)) ||
    /\[code: 10061\]/.test(out)
  ) {
    return {
      advice: `a Durable Object it binds lives in ${m?.[1] ?? "another Worker"}, which is not deployed: deploy that Worker first`,
    };
  }
  if (/paid plan|workers paid/i.test(out))
    return {
      advice: "Durable Objects on SQLite and Vectorize need the Workers Paid plan on this account",
    };
  if (NOT_LOGGED_IN.test(out))
    return {
      advice:
        "wrangler is not authenticated: npx wrangler login (or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID)",
    };
  return { advice: "see wrangler's output above" };
}

// ── pre-flight ──────────────────────────────────────────────────────────────────────────

/** Secrets a Worker reads, given lakehouse.toml and the Worker's LH_* vars (see docs/deploy.md). */
function requiredSecrets(e, lakehouse) {
  const setting = (section, key) => {
    const override = e.vars[`LH_${section}_${key}`.replace(/\./g, "_").toUpperCase()];
    return String(override ?? lakehouse[section]?.[key] ?? "");
  };
  const secrets = [];
  if (e.worker === "gateway" && setting("auth", "allow_unauthenticated") !== "true") {
    secrets.push({
      name: "AUTH_TOKEN",
      put: "openssl rand -hex 32 | npx wrangler secret put AUTH_TOKEN",
      why: "the gateway's bearer token (or [auth].allow_unauthenticated = true in lakehouse.toml, on purpose)",
    });
  }
  if (e.worker === "embed" && setting("embedd", "provider") === "openai") {
    secrets.push({ name: "EMBED_API_KEY", why: '[embedd].provider = "openai"' });
  }
  if (e.worker === "catalog" && setting("catalogd", "iceberg_catalog") === "r2-data-catalog") {
    for (const name of ["R2_CATALOG_URI", "R2_CATALOG_TOKEN", "R2_CATALOG_WAREHOUSE"]) {
      secrets.push({
        name,
        why: '[catalogd].iceberg_catalog = "r2-data-catalog" (docs/deploy.md, "Mirroring to R2 Data Catalog")',
      });
    }
  }
  if (e.worker === "query" && setting("queryd", "r2sql_warehouse") !== "") {
    secrets.push({
      name: "R2_SQL_TOKEN",
      why: '[queryd].r2sql_warehouse is set (docs/deploy.md, "Turning on R2 SQL")',
    });
  }
  if (e.worker === "observer" && setting("llm", "provider") === "openai") {
    secrets.push({ name: "LLM_API_KEY", why: '[llm].provider = "openai"' });
  }
  return secrets.map((s) => ({
    ...s,
    put:
      s.put ?? `npx wrangler secret put ${s.name} -c ${e.config}${e.env ? ` --env ${e.env}` : ""}`,
  }));
}

async function checkResources() {
  const problems = [];
  const lakehouse = parse(readFileSync("lakehouse.toml", "utf8"));
  for (const e of plan) {
    const secrets = requiredSecrets(e, lakehouse);
    if (secrets.length === 0) continue;
    const listArgs = [
      "secret",
      "list",
      "-c",
      e.config,
      ...(e.env ? ["--env", e.env] : []),
      "--format",
      "json",
    ];
    console.log(`pre-flight: wrangler ${listArgs.join(" ")}`);
    const r = await wrangler(listArgs, { quiet: true });
    if (r.status !== 0 && !SCRIPT_NOT_FOUND.test(r.out)) {
      const why = NOT_LOGGED_IN.test(r.out)
        ? "wrangler is not authenticated: npx wrangler login (or set CLOUDFLARE_API_TOKEN)"
        : "see its output";
      problems.push(`cannot list the secrets of ${e.script} (${why}):\n${indent(r.out)}`);
      continue;
    }
    for (const s of secrets) {
      if (r.status === 0 && new RegExp(`"name"\\s*:\\s*"${s.name}"`).test(r.out)) continue;
      problems.push(`${e.script} needs the secret ${s.name} — ${s.why}:\n      ${s.put}`);
    }
  }
  const indexes = [...new Set(plan.flatMap((e) => e.vectorize))];
  if (indexes.length > 0) {
    console.log("pre-flight: wrangler vectorize list --json");
    const r = await wrangler(["vectorize", "list", "--json"], { quiet: true });
    if (r.status !== 0) {
      if (NOT_LOGGED_IN.test(r.out))
        problems.push(
          "wrangler is not authenticated: npx wrangler login (or set CLOUDFLARE_API_TOKEN)",
        );
      else
        console.warn(
          `pre-flight: cannot list Vectorize indexes; the deploy will report a missing one:\n${indent(r.out)}`,
        );
    } else {
      const missing = indexes.filter((i) => !new RegExp(`"name"\\s*:\\s*"${i}"`).test(r.out));
      const users = plan
        .filter((e) => e.vectorize.some((i) => missing.includes(i)))
        .map((e) => e.script);
      if (missing.length > 0) {
        problems.push(
          `Vectorize indexes bound by ${users.join(", ")} do not exist; create them (docs/vectors.md#deploying):\n${missing.map((i) => `      ${vectorizeCreate(i)}`).join("\n")}`,
        );
      }
    }
  }
  return problems;
}

function indent(text) {
  return text
    .trim()
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
}

/**
 * First deploy of a cycle (catalog ↔ query): Cloudflare refuses a service binding to a Worker
 * that does not exist yet, so upload a placeholder under that name; the real Worker replaces it
 * later in the same run (service bindings resolve by name).
 */
async function deployPlaceholder(script, compatibilityDate) {
  const dir = mkdtempSync(join(tmpdir(), "lakehouse-placeholder-"));
  try {
    writeFileSync(
      join(dir, "index.js"),
      `export default { fetch: () => new Response("${script}: placeholder until npm run deploy reaches it", { status: 503 }) };\n`,
    );
    writeFileSync(
      join(dir, "wrangler.toml"),
      `name = "${script}"\nmain = "index.js"\ncompatibility_date = "${compatibilityDate}"\nworkers_dev = false\npreview_urls = false\n`,
    );
    console.log(
      `\n▶ placeholder ${script}: wrangler deploy -c <temp>/wrangler.toml (replaced when its turn comes)`,
    );
    return await wrangler(["deploy", "-c", join(dir, "wrangler.toml")], { cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ── run ─────────────────────────────────────────────────────────────────────────────────

if (!dryRun && preflight) {
  const problems = await checkResources();
  if (problems.length > 0) {
    console.error(
      `\n✗ nothing deployed: create these first, then run npm run deploy again\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    process.exit(1);
  }
  console.log("pre-flight ok");
} else if (dryRun) {
  console.log(
    "pre-flight skipped (dry run): secrets and Vectorize indexes are checked only by a real deploy",
  );
}

const deployed = [];
const placeholders = new Set();
for (const [i, e] of plan.entries()) {
  const args = wranglerArgs(e);
  if (dryRun) {
    mkdirSync(resolve(outdir, e.worker), { recursive: true });
    args.push("--dry-run", "--outdir", resolve(outdir, e.worker));
  }
  console.log(
    `\n▶ [${i + 1}/${plan.length}] ${e.worker} (${e.script}): wrangler ${args.join(" ")}`,
  );
  let r = await wrangler(args);
  if (r.status === 0) {
    deployed.push(e.worker);
    console.log(`✓ ${e.worker}`);
    continue;
  }
  const { missingScript } = diagnose(e, r.out);
  let { advice } = diagnose(e, r.out);
  const later = plan.slice(i + 1).find((p) => p.script === missingScript);
  if (!dryRun && later && !placeholders.has(later.script)) {
    // the Worker it binds comes later in this run (a cycle): a placeholder, then this one again
    placeholders.add(later.script);
    const p = await deployPlaceholder(later.script, later.compatibilityDate);
    if (p.status === 0) {
      console.log(
        `\n▶ [${i + 1}/${plan.length}] ${e.worker} again, now that ${later.script} exists`,
      );
      r = await wrangler(args);
      if (r.status !== 0) advice = diagnose(e, r.out).advice;
    } else {
      advice += `; the placeholder for ${later.script} failed too: ${diagnose(later, p.out).advice}`;
    }
  }
  if (r.status !== 0) {
    console.error(
      `\n✗ deploy stopped at ${e.worker} (${e.script}, -c ${e.config}${e.env ? ` --env ${e.env}` : ""}): ${advice}`,
    );
    console.error(
      `  deployed: ${deployed.join(", ") || "none"}; not deployed: ${plan
        .slice(i)
        .map((p) => p.worker)
        .join(", ")}`,
    );
    console.error("  fix it and run npm run deploy again (every deploy is idempotent)");
    process.exit(1);
  }
  deployed.push(e.worker);
  console.log(`✓ ${e.worker}`);
}
console.log(`\n${dryRun ? "dry run ok" : "deployed"}: ${deployed.join(" → ")}`);
if (dryRun) console.log(`bundles in ${outdir}/<worker>`);

// npm run build: `wrangler deploy --dry-run` of every Worker (production environment
// where one exists), printing each bundle's size. Nothing is uploaded.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { WORKERS, WRANGLER_ENV, configPath } from "./workers.mjs";
import { checkWasm } from "./build-wasm.mjs";

// The committed WebAssembly binaries must be their .wat sources' output.
const stale = await checkWasm();
if (stale.length) {
  console.error(`build FAILED: stale WebAssembly binaries (run npm run build:wasm and commit): ${stale.join(", ")}`);
  process.exit(1);
}

const env = { ...process.env, ...WRANGLER_ENV };
const rows = [];
let failed = false;
for (const worker of WORKERS) {
  const outdir = resolve("dist/build", worker);
  mkdirSync(outdir, { recursive: true });
  const config = configPath(worker);
  const args = ["deploy", "--dry-run", "-c", config, "--outdir", outdir];
  if (/^\[env\.production\]/m.test(readFileSync(config, "utf8"))) args.push("--env", "production");
  try {
    execFileSync("wrangler", args, { env, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    failed = true;
    console.error(`build FAILED ${worker}\n${err.stdout}\n${err.stderr}`);
    continue;
  }
  let bytes = 0;
  let gzip = 0;
  for (const file of readdirSync(outdir)) {
    const path = join(outdir, file);
    if (!statSync(path).isFile() || file.endsWith(".map")) continue;
    const data = readFileSync(path);
    bytes += data.length;
    gzip += gzipSync(data).length;
  }
  rows.push({ worker, kib: (bytes / 1024).toFixed(1), gzip_kib: (gzip / 1024).toFixed(1) });
}
console.log("worker      bundle KiB   gzip KiB");
for (const r of rows) console.log(`${r.worker.padEnd(11)} ${r.kib.padStart(10)} ${r.gzip_kib.padStart(10)}`);
process.exit(failed ? 1 : 0);

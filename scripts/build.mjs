// npm run build: `wrangler deploy --dry-run` of every Worker (production environment
// where one exists), printing each bundle's size. Nothing is uploaded. Fails when a bundle
// contains test code (a module from a test/ folder, or a Fake* class of test/fakes).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { checkWasm } from "./build-wasm.mjs";
import { configPath, WORKERS, WRANGLER_ENV } from "./workers.mjs";

// The committed WebAssembly binaries must be their .wat sources' output.
const stale = await checkWasm();
if (stale.length) {
  console.error(
    `build FAILED: stale WebAssembly binaries (run npm run build:wasm and commit): ${stale.join(", ")}`,
  );
  process.exit(1);
}

/**
 * What test code looks like in a bundle: esbuild's `// <path>` comment opening a module from
 * a test/ folder (test/fakes, workers/x/test; not a dependency's), or a fake's class name.
 */
const TEST_CODE = [/^\/\/ (?!.*node_modules\/)\S*\btest\/\S+$/m, /\bFake[A-Z]\w*/];

/** The first piece of test code found in a bundle file, or undefined. */
function findTestCode(text) {
  for (const pattern of TEST_CODE) {
    const m = pattern.exec(text);
    if (m) return m[0];
  }
  return undefined;
}

const env = { ...process.env, ...WRANGLER_ENV };
const rows = [];
let failed = false;
for (const worker of WORKERS) {
  const outdir = resolve("dist/build", worker);
  rmSync(outdir, { recursive: true, force: true }); // wrangler leaves old files: only this build's are sized and checked
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
    const test = file.endsWith(".js") ? findTestCode(data.toString("utf8")) : undefined;
    if (test) {
      failed = true;
      console.error(
        `build FAILED ${worker}: the production bundle ${path} contains test code (${test})`,
      );
    }
  }
  rows.push({ worker, kib: (bytes / 1024).toFixed(1), gzip_kib: (gzip / 1024).toFixed(1) });
}
console.log("worker      bundle KiB   gzip KiB");
for (const r of rows)
  console.log(`${r.worker.padEnd(11)} ${r.kib.padStart(10)} ${r.gzip_kib.padStart(10)}`);
process.exit(failed ? 1 : 0);

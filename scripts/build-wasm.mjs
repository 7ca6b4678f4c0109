// npm run build:wasm: compiles the WebAssembly text sources (*.wat) of the Workers into the
// .wasm binaries committed beside them, with wabt. `--check` compiles without writing and
// fails when a committed binary is not its source's output (npm run build runs the check).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

export const WASM_SOURCES = ["workers/vectors/src/distance.wat"];

export async function compileWat(path) {
  const wabt = await wabtInit();
  const module = wabt.parseWat(path, readFileSync(path, "utf8"), { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

export async function checkWasm() {
  const stale = [];
  for (const src of WASM_SOURCES) {
    const out = src.replace(/\.wat$/, ".wasm");
    const bytes = await compileWat(src);
    if (!existsSync(out) || !bytes.equals(readFileSync(out))) stale.push(out);
  }
  return stale;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes("--check")) {
    const stale = await checkWasm();
    if (stale.length) {
      console.error(
        `stale WebAssembly binaries (run npm run build:wasm and commit): ${stale.join(", ")}`,
      );
      process.exit(1);
    }
    console.log(`wasm: ${WASM_SOURCES.length} binaries match their sources`);
  } else {
    for (const src of WASM_SOURCES) {
      const out = src.replace(/\.wat$/, ".wasm");
      const bytes = await compileWat(src);
      writeFileSync(out, bytes);
      console.log(`${src} → ${out} (${bytes.length} bytes)`);
    }
  }
}

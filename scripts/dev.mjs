// npm run dev: every Worker in one `wrangler dev`, gateway on 127.0.0.1:8787 (see
// wrangler.toml [dev]), state under .wrangler/state. Extra arguments pass through:
//   npm run dev -- --port 9000 --var AUTH_TOKEN:secret
import { spawn } from "node:child_process";
import { devConfigArgs, WRANGLER_ENV } from "./workers.mjs";

const extra = process.argv.slice(2);
const args = ["dev", ...devConfigArgs(), "--var", "LAKEHOUSE_ENV:local", ...extra];
const child = spawn("wrangler", args, {
  stdio: "inherit",
  env: { ...process.env, ...WRANGLER_ENV },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

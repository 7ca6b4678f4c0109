// The Chromium that the console test drives through playwright-core (never a browser
// download): Debian's /usr/bin/chromium when it is installed, otherwise the headless
// Chromium that `npm ci` brings inside @sparticuz/chromium, so `npm ci && npm test` needs
// no apt step. LAKEHOUSE_TEST_BROWSER forces a choice: "system", "bundled", or the
// absolute path of a Chromium executable.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const SYSTEM_CHROMIUM = "/usr/bin/chromium";
const PACKAGE = resolve(import.meta.dirname, "../../node_modules/@sparticuz/chromium");

/** Flags the console test needs whatever the binary: headless, no sandbox (root in CI), nothing phoning home. */
const TEST_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** @sparticuz/chromium's recommended flags that would change what the page under test is allowed to do: left out. */
const WEAKENS_PAGE_SECURITY = new Set([
  "--disable-web-security",
  "--allow-running-insecure-content",
  "--disable-site-isolation-trials",
]);

export interface TestBrowser {
  source: "system" | "bundled" | "path";
  executablePath: string;
  args: string[];
  /** Environment for the browser process (playwright's `env`), when it needs more than ours. */
  env?: Record<string, string | undefined>;
}

export async function findChromium(
  choice = process.env.LAKEHOUSE_TEST_BROWSER ?? "",
): Promise<TestBrowser> {
  if (choice === "system" || (choice === "" && existsSync(SYSTEM_CHROMIUM))) {
    if (!existsSync(SYSTEM_CHROMIUM))
      throw new Error(`LAKEHOUSE_TEST_BROWSER=system but ${SYSTEM_CHROMIUM} is missing`);
    return { source: "system", executablePath: SYSTEM_CHROMIUM, args: TEST_FLAGS };
  }
  if (choice === "" || choice === "bundled") return bundledChromium();
  if (!choice.startsWith("/") || !existsSync(choice)) {
    throw new Error(
      `LAKEHOUSE_TEST_BROWSER must be "system", "bundled" or an absolute path to a Chromium executable, not ${JSON.stringify(choice)}`,
    );
  }
  return { source: "path", executablePath: choice, args: TEST_FLAGS };
}

/**
 * @sparticuz/chromium unpacks its brotli-compressed binary (≈ 200 MB, ≈ 2 s) into os.tmpdir() and
 * reuses whatever it finds there, so a half-written file from an interrupted run or a second test
 * run at the same time would be taken for a browser. Unpack instead into a fresh staging dir and
 * rename it into a per-version cache in one step; later runs start from the cache.
 */
async function bundledChromium(): Promise<TestBrowser> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `the bundled Chromium is for linux-x64 only: install chromium at ${SYSTEM_CHROMIUM} or set LAKEHOUSE_TEST_BROWSER=/path/to/chromium`,
    );
  }
  if (!existsSync(PACKAGE))
    throw new Error(`no ${SYSTEM_CHROMIUM} and no ${PACKAGE}: run npm ci (it is a devDependency)`);
  const { default: chromium } = await import("@sparticuz/chromium");
  const version = (
    JSON.parse(readFileSync(join(PACKAGE, "package.json"), "utf8")) as { version: string }
  ).version;
  const cache = join(tmpdir(), `lakehouse-sparticuz-chromium-${version}`);
  const executablePath = join(cache, "chromium");
  if (!existsSync(executablePath)) {
    const staging = mkdtempSync(join(tmpdir(), "lakehouse-sparticuz-chromium-staging-"));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = staging; // the package writes to os.tmpdir(), read at call time
    try {
      await chromium.executablePath(); // chromium, swiftshader's GL libraries beside it, fonts/
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw err;
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    try {
      renameSync(staging, cache);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(executablePath)) throw err; // not another run winning the race
    }
  }
  const args = [...TEST_FLAGS, ...chromium.args.filter((a) => !WEAKENS_PAGE_SECURITY.has(a))];
  // Chromium's fontconfig is built in; without the machine's /etc/fonts it would find no font
  // at all, so point it at the fonts the package ships.
  if (existsSync("/etc/fonts/fonts.conf")) return { source: "bundled", executablePath, args };
  const fontsConf = join(cache, "fonts.conf");
  if (!existsSync(fontsConf)) {
    mkdirSync(join(cache, "fontconfig-cache"), { recursive: true });
    writeFileSync(
      fontsConf,
      `<?xml version="1.0"?>\n<fontconfig>\n  <dir>${join(cache, "fonts")}</dir>\n  <cachedir>${join(cache, "fontconfig-cache")}</cachedir>\n</fontconfig>\n`,
    );
  }
  return {
    source: "bundled",
    executablePath,
    args,
    env: { ...process.env, FONTCONFIG_FILE: fontsConf },
  };
}

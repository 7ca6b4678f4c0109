// The web console: GET / (HTML), /console/app.js and /console/app.css. Served without
// auth (it holds no data); every /v1 call the page makes carries the token the user
// typed, or none when the gateway runs open locally. [gateway].console = false turns it off.
import type { Hono } from "hono";
import type { AppEnv } from "../../../shared/app";
import { LakehouseError } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_JS } from "./console-assets";

const SECURITY_HEADERS = {
  // Same-origin only: no inline script, nothing from elsewhere; the page calls /v1 on this origin.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const ASSETS: Record<string, { body: string; type: string }> = {
  "/": { body: CONSOLE_HTML, type: "text/html; charset=utf-8" },
  "/console/app.js": { body: CONSOLE_JS, type: "text/javascript; charset=utf-8" },
  "/console/app.css": { body: CONSOLE_CSS, type: "text/css; charset=utf-8" },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- mounts on the gateway's app whatever its env type
export function mountConsole<E extends AppEnv<any>>(app: Hono<E>): void {
  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(path, (c) => {
      if (!lakehouseConfig(c.env as object).gateway.console) {
        throw new LakehouseError(
          "not_found",
          "the console is turned off ([gateway].console = false)",
        );
      }
      return new Response(asset.body, {
        headers: { "content-type": asset.type, ...SECURITY_HEADERS },
      });
    });
  }
}

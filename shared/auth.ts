// Auth for the public door (ADR-003 of the seed project):
//   - IP allow-list: CF-Connecting-IP must fall in one of [auth].allowed_ips → else 403;
//   - bearer: `Authorization: Bearer <t>` equal (constant time) to AUTH_TOKEN or one of
//     AUTH_TOKENS_SECONDARY → else 401;
//   - safe by default: deployed (LAKEHOUSE_ENV not "local"/"test") with no token → 503
//     unless [auth].allow_unauthenticated is set on purpose.
// Health is always exempt.
import type { MiddlewareHandler } from "hono";
import { type Cidr, cidrContains, parseCidr } from "./cidr";
import { errorResponse, LakehouseError } from "./errors";

export interface AuthSettings {
  tokens: string[];
  allowedIps: Cidr[];
  /** True when running under `npm run dev` or the test suite (opted in explicitly). */
  local: boolean;
  allowUnauthenticated: boolean;
}

export interface AuthVars {
  AUTH_TOKEN?: string;
  AUTH_TOKENS_SECONDARY?: string;
  LAKEHOUSE_ENV?: string;
}

export function authSettings(
  vars: AuthVars,
  config: { allowed_ips: string[]; allow_unauthenticated: boolean },
): AuthSettings {
  const tokens = [vars.AUTH_TOKEN ?? "", ...(vars.AUTH_TOKENS_SECONDARY ?? "").split(",")]
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  const allowedIps = config.allowed_ips.map((text, i) => {
    try {
      return parseCidr(text);
    } catch (err) {
      throw new Error(`lakehouse.toml: auth.allowed_ips[${i}]: ${(err as Error).message}`);
    }
  });
  const env = vars.LAKEHOUSE_ENV ?? "";
  return {
    tokens,
    allowedIps,
    local: env === "local" || env === "test",
    allowUnauthenticated: config.allow_unauthenticated,
  };
}

const encoder = new TextEncoder();

/** Compares two secrets in time independent of where they differ (both are hashed first). */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export type AuthVerdict = { ok: true } | { ok: false; error: LakehouseError };

/** Decides one request. Kept apart from the middleware so every case is unit-testable. */
export async function checkAuth(settings: AuthSettings, headers: Headers): Promise<AuthVerdict> {
  if (settings.tokens.length === 0 && !settings.local && !settings.allowUnauthenticated) {
    return {
      ok: false,
      error: new LakehouseError(
        "service_unavailable",
        "this gateway is deployed without AUTH_TOKEN and refuses requests: run `wrangler secret put AUTH_TOKEN` " +
          "(or set [auth].allow_unauthenticated = true in lakehouse.toml to run open on purpose)",
      ),
    };
  }
  if (settings.allowedIps.length > 0) {
    const ip = headers.get("CF-Connecting-IP") ?? "";
    if (!settings.allowedIps.some((cidr) => cidrContains(cidr, ip))) {
      return {
        ok: false,
        error: new LakehouseError(
          "forbidden",
          `client address ${JSON.stringify(ip || "(none)")} is not in [auth].allowed_ips`,
        ),
      };
    }
  }
  if (settings.tokens.length > 0) {
    const header = headers.get("Authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match) {
      return {
        ok: false,
        error: new LakehouseError(
          "unauthorized",
          "missing bearer token: send `Authorization: Bearer <token>`",
        ),
      };
    }
    const presented = match[1]!.trim();
    let accepted = false;
    // Compare against every token (no early exit) so timing does not reveal which matched.
    for (const token of settings.tokens)
      accepted = (await constantTimeEqual(presented, token)) || accepted;
    if (!accepted)
      return { ok: false, error: new LakehouseError("unauthorized", "invalid bearer token") };
  }
  return { ok: true };
}

export function authMiddleware(getSettings: (env: unknown) => AuthSettings): MiddlewareHandler {
  return async function auth(c, next) {
    const verdict = await checkAuth(getSettings(c.env), c.req.raw.headers);
    if (!verdict.ok) {
      const res = errorResponse(verdict.error);
      if (verdict.error.status === 401)
        res.headers.set("WWW-Authenticate", 'Bearer realm="lakehouse"');
      return res;
    }
    await next();
  };
}

import { describe, expect, it } from "vitest";
import { authSettings, checkAuth } from "../auth";
import { cidrContains, parseCidr } from "../cidr";

function headers(init: Record<string, string>): Headers {
  return new Headers(init);
}

describe("CIDR allow-list", () => {
  it("matches IPv4 and IPv6 networks and bare addresses", () => {
    expect(cidrContains(parseCidr("10.0.0.0/8"), "10.200.3.4")).toBe(true);
    expect(cidrContains(parseCidr("10.0.0.0/8"), "11.0.0.1")).toBe(false);
    expect(cidrContains(parseCidr("192.168.1.7"), "192.168.1.7")).toBe(true);
    expect(cidrContains(parseCidr("192.168.1.7"), "192.168.1.8")).toBe(false);
    expect(cidrContains(parseCidr("2001:db8::/32"), "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains(parseCidr("2001:db8::/32"), "2001:db9::1")).toBe(false);
    expect(cidrContains(parseCidr("::1"), "::1")).toBe(true);
    expect(cidrContains(parseCidr("0.0.0.0/0"), "8.8.8.8")).toBe(true);
    expect(cidrContains(parseCidr("0.0.0.0/0"), "::1")).toBe(false);
    expect(cidrContains(parseCidr("10.0.0.0/8"), "::ffff:10.1.2.3")).toBe(true);
    expect(cidrContains(parseCidr("10.0.0.0/8"), "not-an-ip")).toBe(false);
  });

  it("rejects malformed CIDRs", () => {
    for (const bad of [
      "10.0.0.0/33",
      "300.1.1.1",
      "1.2.3",
      "::1/129",
      "abc",
      "1.2.3.4/8/9",
      "1:2:3:4:5:6:7:8:9",
    ]) {
      expect(() => parseCidr(bad), bad).toThrow(/invalid CIDR/);
    }
  });

  it("names the bad entry of [auth].allowed_ips", () => {
    expect(() =>
      authSettings({}, { allowed_ips: ["10.0.0.0/8", "nope"], allow_unauthenticated: false }),
    ).toThrow('auth.allowed_ips[1]: invalid CIDR "nope"');
  });
});

describe("checkAuth", () => {
  const local = { LAKEHOUSE_ENV: "test" };
  const open = { allowed_ips: [], allow_unauthenticated: false };

  it("is open locally when no token and no allow-list are set", async () => {
    expect(await checkAuth(authSettings(local, open), headers({}))).toEqual({ ok: true });
  });

  it("refuses everything when deployed without a token, unless allowed on purpose", async () => {
    const verdict = await checkAuth(authSettings({}, open), headers({}));
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.error.status).toBe(503);
      expect(verdict.error.message).toMatch(/wrangler secret put AUTH_TOKEN/);
    }
    expect(
      await checkAuth(authSettings({ LAKEHOUSE_ENV: "production" }, open), headers({})),
    ).toMatchObject({ ok: false });
    expect(
      await checkAuth(authSettings({}, { ...open, allow_unauthenticated: true }), headers({})),
    ).toEqual({ ok: true });
  });

  it("requires the bearer token, primary or secondary", async () => {
    const settings = authSettings(
      { ...local, AUTH_TOKEN: "primary", AUTH_TOKENS_SECONDARY: "old-one, older" },
      open,
    );
    const missing = await checkAuth(settings, headers({}));
    expect(missing.ok || missing.error.status).toBe(401);
    const wrong = await checkAuth(settings, headers({ Authorization: "Bearer primar" }));
    expect(wrong.ok || wrong.error.message).toBe("invalid bearer token");
    expect(await checkAuth(settings, headers({ Authorization: "Bearer primary" }))).toEqual({
      ok: true,
    });
    expect(await checkAuth(settings, headers({ Authorization: "bearer older" }))).toEqual({
      ok: true,
    });
    expect(
      await checkAuth(settings, headers({ Authorization: "Basic cHJpbWFyeQ==" })),
    ).toMatchObject({ ok: false });
  });

  it("checks CF-Connecting-IP against the allow-list with 403", async () => {
    const settings = authSettings(local, {
      allowed_ips: ["10.0.0.0/8", "2001:db8::/32"],
      allow_unauthenticated: false,
    });
    expect(await checkAuth(settings, headers({ "CF-Connecting-IP": "10.9.9.9" }))).toEqual({
      ok: true,
    });
    expect(await checkAuth(settings, headers({ "CF-Connecting-IP": "2001:db8::7" }))).toEqual({
      ok: true,
    });
    const outside = await checkAuth(settings, headers({ "CF-Connecting-IP": "192.0.2.1" }));
    expect(outside.ok || outside.error.status).toBe(403);
    expect(outside.ok || outside.error.message).toMatch(/192\.0\.2\.1/);
    const none = await checkAuth(settings, headers({}));
    expect(none.ok || none.error.status).toBe(403);
  });
});

import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import configText from "../../lakehouse.toml";
import { ConfigError, envVarName, parseConfig } from "../config";
import { CONFIG_SCHEMA } from "../config-schema";

describe("lakehouse.toml", () => {
  it("names every key of the schema with its default value", () => {
    const raw = parse(configText) as Record<string, Record<string, unknown>>;
    for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
      const table = section
        .split(".")
        .reduce<Record<string, unknown> | undefined>(
          (t, part) => t?.[part] as Record<string, unknown>,
          raw,
        );
      expect(table, `section [${section}]`).toBeDefined();
      for (const [key, spec] of Object.entries(keys)) {
        expect(table![key], `${section}.${key}`).toEqual(spec.default);
      }
    }
  });

  it("parses to the defaults", () => {
    const config = parseConfig(configText);
    expect(config.observerd.ring_cap).toBe(2000);
    expect(config.gateway.body_caps.vectors).toBe(64 * 1024 * 1024);
    expect(config.models.weak_models).toContain("qwen3:8b");
    expect(config.models.weak_models).toEqual(
      expect.arrayContaining(["qwen3:latest", "qwen3.5:latest"]),
    );
  });
});

describe("parseConfig", () => {
  it("rejects a wrong type naming the key path and the value", () => {
    expect(() => parseConfig('[observerd]\nring_cap = "x"\n')).toThrow(
      'observerd.ring_cap: expected an integer, got "x"',
    );
    expect(() => parseConfig("[auth]\nallow_unauthenticated = 1\n")).toThrow(
      "auth.allow_unauthenticated: expected true or false, got 1",
    );
    expect(() => parseConfig('[ingestd]\ncompression = "lz4"\n')).toThrow(
      'ingestd.compression: expected one of "snappy", "zstd", "none", got "lz4"',
    );
    expect(() => parseConfig("[observerd]\nring_cap = 0\n")).toThrow(
      "observerd.ring_cap: expected a value >= 1, got 0",
    );
  });

  it("rejects unknown keys and sections", () => {
    expect(() => parseConfig("[observerd]\nring_capp = 10\n")).toThrow(
      /unknown key observerd\.ring_capp/,
    );
    expect(() => parseConfig("[observer]\nring_cap = 10\n")).toThrow(
      /unknown section \[observer\]/,
    );
    expect(() => parseConfig("[gateway.body_caps]\nsqll = 10\n")).toThrow(
      /unknown key gateway\.body_caps\.sqll/,
    );
  });

  it("rejects an LH_* override that names no key, suggesting the nearest", () => {
    expect(() => parseConfig("", { LH_OBSERVERD_RINGCAP: "10" })).toThrow(
      /unknown override LH_OBSERVERD_RINGCAP.*did you mean LH_OBSERVERD_RING_CAP\?/,
    );
    expect(() => parseConfig("", { LH_NOTHING_LIKE_IT_AT_ALL: "1" })).toThrow(
      /unknown override LH_NOTHING_LIKE_IT_AT_ALL: no key/,
    );
    expect(
      parseConfig("", { LH_OBSERVERD_RING_CAP: "10", OTHER_VAR: "x" }).observerd.ring_cap,
    ).toBe(10);
    // wrangler [vars] may be numbers or booleans: they override too, rather than being ignored.
    expect(
      parseConfig("", { LH_OBSERVERD_RING_CAP: 12, LH_AUTH_ALLOW_UNAUTHENTICATED: true }).observerd
        .ring_cap,
    ).toBe(12);
  });

  it("reports TOML syntax errors with a line", () => {
    expect(() => parseConfig("[observerd\nring_cap = 1\n")).toThrow(ConfigError);
    expect(() => parseConfig("[observerd\nring_cap = 1\n")).toThrow(/line 1/);
  });

  it("lets LH_<SECTION>_<KEY> vars win over the file, validated the same way", () => {
    expect(envVarName("gateway.body_caps", "sql")).toBe("LH_GATEWAY_BODY_CAPS_SQL");
    const config = parseConfig("[observerd]\nring_cap = 10\n", {
      LH_OBSERVERD_RING_CAP: "25",
      LH_GATEWAY_BODY_CAPS_SQL: "99",
      LH_AUTH_ALLOWED_IPS: "10.0.0.0/8, ::1",
      LH_MATRIXD_FORCE_FULL_ENRICHMENT: "true",
    });
    expect(config.observerd.ring_cap).toBe(25);
    expect(config.gateway.body_caps.sql).toBe(99);
    expect(config.auth.allowed_ips).toEqual(["10.0.0.0/8", "::1"]);
    expect(config.matrixd.force_full_enrichment).toBe(true);
    expect(() => parseConfig("", { LH_OBSERVERD_RING_CAP: "many" })).toThrow(
      'observerd.ring_cap (from LH_OBSERVERD_RING_CAP): expected a number, got "many"',
    );
  });

  it("fills missing keys with defaults", () => {
    const config = parseConfig("");
    expect(config.queryd.max_rows).toBe(10_000);
    expect(config.llm.provider).toBe("none");
  });
});

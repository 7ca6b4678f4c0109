// Loads lakehouse.toml (bundled into each Worker as text) and validates it against
// CONFIG_SCHEMA. A bad file fails loudly with the key path and the bad value;
// unknown keys are errors; `LH_<SECTION>_<KEY>` Worker vars win over the file, and an
// LH_* var that names no key is an error too.
// Secrets never come from here: they are Worker secrets / .dev.vars.
import { parse, TomlError } from "smol-toml";
import { CONFIG_SCHEMA, type KeySpec, type LakehouseConfig } from "./config-schema";

export type { LakehouseConfig } from "./config-schema";

export class ConfigError extends Error {
  constructor(message: string) {
    super(`lakehouse.toml: ${message}`);
    this.name = "ConfigError";
  }
}

type Table = Record<string, unknown>;

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  if (value !== null && typeof value === "object") return "a table";
  return String(value);
}

function validateValue(path: string, spec: KeySpec, value: unknown): unknown {
  switch (spec.type) {
    case "int":
    case "number": {
      const isNum = typeof value === "number" || typeof value === "bigint";
      const n = Number(value);
      if (!isNum || !Number.isFinite(n) || (spec.type === "int" && !Number.isInteger(n))) {
        throw new ConfigError(
          `${path}: expected ${spec.type === "int" ? "an integer" : "a number"}, got ${describe(value)}`,
        );
      }
      if (spec.min !== undefined && n < spec.min) {
        throw new ConfigError(`${path}: expected a value >= ${spec.min}, got ${n}`);
      }
      if (spec.max !== undefined && n > spec.max) {
        throw new ConfigError(`${path}: expected a value <= ${spec.max}, got ${n}`);
      }
      return n;
    }
    case "bool":
      if (typeof value !== "boolean")
        throw new ConfigError(`${path}: expected true or false, got ${describe(value)}`);
      return value;
    case "string":
      if (typeof value !== "string")
        throw new ConfigError(`${path}: expected a string, got ${describe(value)}`);
      if (!spec.allowEmpty && value.length === 0)
        throw new ConfigError(`${path}: must not be empty`);
      return value;
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) {
        throw new ConfigError(
          `${path}: expected one of ${spec.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(value)}`,
        );
      }
      return value;
    case "string[]":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        throw new ConfigError(`${path}: expected an array of strings, got ${describe(value)}`);
      }
      return [...value];
  }
}

function fromEnvString(path: string, spec: KeySpec, raw: string, varName: string): unknown {
  const where = `${path} (from ${varName})`;
  switch (spec.type) {
    case "int":
    case "number": {
      const n = raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isFinite(n))
        throw new ConfigError(`${where}: expected a number, got ${JSON.stringify(raw)}`);
      return validateValue(where, spec, n);
    }
    case "bool":
      if (raw !== "true" && raw !== "false")
        throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
      return raw === "true";
    case "string[]": {
      const trimmed = raw.trim();
      if (trimmed.startsWith("[")) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(trimmed);
        } catch {
          throw new ConfigError(
            `${where}: expected a JSON array or a comma-separated list, got ${JSON.stringify(raw)}`,
          );
        }
        return validateValue(where, spec, parsed);
      }
      return trimmed === ""
        ? []
        : trimmed
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
    }
    default:
      return validateValue(where, spec, raw);
  }
}

/** The env var that overrides a key: `LH_OBSERVERD_RING_CAP`, `LH_GATEWAY_BODY_CAPS_SQL`. */
export function envVarName(section: string, key: string): string {
  return `LH_${section}_${key}`.replace(/\./g, "_").toUpperCase();
}

function sectionTable(root: Table, section: string): Table | undefined {
  let node: unknown = root;
  for (const part of section.split(".")) {
    if (node === undefined) return undefined;
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = (node as Table)[part];
  }
  if (node === undefined) return undefined;
  if (typeof node !== "object" || node === null || Array.isArray(node)) {
    throw new ConfigError(`${section}: expected a table, got ${describe(node)}`);
  }
  return node as Table;
}

/** A Worker var as an override's text: wrangler `[vars]` may hold numbers and booleans too. */
function overrideText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Edit distance, to suggest the override an unknown LH_* name was meant to be. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[b.length]!;
}

/** Every LH_* var must name a key: a mistyped override must not silently leave the default. */
function checkOverrideNames(vars: Record<string, unknown>, known: Set<string>): void {
  for (const name of Object.keys(vars)) {
    if (!name.startsWith("LH_") || known.has(name)) continue;
    const best = [...known]
      .map((k) => [k, distance(name, k)] as const)
      .sort((a, b) => a[1] - b[1])[0];
    const hint =
      best && best[1] <= Math.max(3, Math.floor(name.length / 4))
        ? ` (did you mean ${best[0]}?)`
        : "";
    throw new ConfigError(
      `unknown override ${name}: no key of lakehouse.toml is overridden by that name${hint}; overrides are LH_<SECTION>_<KEY>, e.g. LH_OBSERVERD_RING_CAP`,
    );
  }
}

/**
 * Parses and validates config text. `vars` are the Worker's environment (only
 * `LH_*` entries are read, and each must name a key). Missing keys take their defaults.
 */
export function parseConfig(text: string, vars: Record<string, unknown> = {}): LakehouseConfig {
  let root: Table;
  try {
    root = parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError)
      throw new ConfigError(
        `syntax error at line ${err.line}, column ${err.column}: ${err.message.split("\n")[0]}`,
      );
    throw new ConfigError(String(err));
  }

  const sections = Object.keys(CONFIG_SCHEMA);
  // Reject unknown sections and keys before anything else: typos must not fall back to defaults.
  for (const [name, value] of Object.entries(root)) {
    if (!sections.includes(name))
      throw new ConfigError(
        `unknown section [${name}] (known: ${sections.filter((s) => !s.includes(".")).join(", ")})`,
      );
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw new ConfigError(`${name}: expected a table, got ${describe(value)}`);
  }

  const out: Record<string, Table> = {};
  const known = new Set<string>();
  for (const section of sections) {
    const spec = CONFIG_SCHEMA[section as keyof typeof CONFIG_SCHEMA] as Record<string, KeySpec>;
    const table = sectionTable(root, section) ?? {};
    const subsections = sections
      .filter((s) => s.startsWith(`${section}.`))
      .map((s) => s.slice(section.length + 1));
    for (const key of Object.keys(table)) {
      if (!(key in spec) && !subsections.includes(key)) {
        throw new ConfigError(
          `unknown key ${section}.${key} (known: ${Object.keys(spec).join(", ")})`,
        );
      }
    }
    const values: Table = {};
    for (const [key, keySpec] of Object.entries(spec)) {
      const path = `${section}.${key}`;
      const varName = envVarName(section, key);
      known.add(varName);
      const fromEnv = overrideText(vars[varName]);
      if (fromEnv !== undefined) values[key] = fromEnvString(path, keySpec, fromEnv, varName);
      else if (key in table) values[key] = validateValue(path, keySpec, table[key]);
      else values[key] = Array.isArray(keySpec.default) ? [...keySpec.default] : keySpec.default;
    }
    out[section] = values;
  }
  checkOverrideNames(vars, known);

  // Nest dotted sections under their parent: gateway.body_caps → gateway.body_caps.
  for (const section of sections.filter((s) => s.includes("."))) {
    const [parent, child] = section.split(".") as [string, string];
    out[parent]![child] = out[section];
    delete out[section];
  }
  return out as unknown as LakehouseConfig;
}

let cached: { key: string; config: LakehouseConfig } | undefined;

/** parseConfig, memoised per isolate (the text and the LH_* vars are fixed for a deployment). */
export function loadConfig(text: string, vars: Record<string, unknown> = {}): LakehouseConfig {
  const overrides = Object.entries(vars)
    .filter(([k]) => k.startsWith("LH_"))
    .sort(([a], [b]) => a.localeCompare(b));
  const key = `${text}\0${JSON.stringify(overrides)}`;
  if (cached && cached.key === key) return cached.config;
  const config = parseConfig(text, vars);
  cached = { key, config };
  return config;
}

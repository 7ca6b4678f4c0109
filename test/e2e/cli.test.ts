// The `lakehouse` CLI against the running system, as a shell user runs it:
// ingest with progress (direct, and multipart + from_key above the threshold) → sql
// (table, --csv, --json) → ls → get, put/get round trip, stats, and the exit codes
// and messages for usage errors, failed requests, bad tokens and a dead gateway.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type System, startSystem } from "./harness";

const TOKEN = "cli-e2e-token";
const CLI = resolve(import.meta.dirname, "../../bin/lakehouse.mjs");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lakehouse(
  sys: System | { url: string },
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, LAKEHOUSE_GATEWAY: sys.url, LAKEHOUSE_TOKEN: TOKEN, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

describe("lakehouse CLI", () => {
  let sys: System;
  let dir: string;
  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: TOKEN } });
    dir = mkdtempSync(join(tmpdir(), "lakehouse-cli-"));
  });
  afterAll(async () => {
    await sys?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("ingests a CSV with progress, then sql shows the rows as a table, CSV and JSON", async () => {
    const file = join(dir, "cities.csv");
    writeFileSync(
      file,
      'city,country,population\nLisbon,PT,545000\nPorto,PT,232000\n"Frankfurt, am Main",DE,773000\n',
    );
    const ingest = await lakehouse(sys, ["ingest", file, "--name", "cli_cities"]);
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(ingest.stderr).toMatch(/upload 100%/);
    expect(ingest.stdout).toMatch(/ingested 3 rows into cli_cities \(version 1/);
    expect(ingest.stdout).toMatch(/population int64/);

    const table = await lakehouse(sys, [
      "sql",
      "SELECT city, population FROM cli_cities ORDER BY population DESC",
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^city\s+population$/);
    expect(lines[1]).toMatch(/^-+\s+-+$/);
    expect(lines[2]).toMatch(/^Frankfurt, am Main\s+773000$/);
    expect(lines.at(-1)).toBe("(3 rows)");

    const csv = await lakehouse(sys, [
      "sql",
      "SELECT city, country FROM cli_cities WHERE country = 'DE'",
      "--csv",
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toBe('city,country\r\n"Frankfurt, am Main",DE\r\n');

    const json = await lakehouse(
      sys,
      ["sql", "-", "--json"],
      {},
      "SELECT sum(population) AS total FROM cli_cities",
    );
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      columns: [{ name: "total" }],
      rows: [[1550000]],
      row_count: 1,
    });
  });

  it("sends a file above the multipart threshold through storage multipart + from_key", async () => {
    const file = join(dir, "numbers.csv");
    const rows = ["n,label"];
    for (let i = 0; i < 400_000; i++) rows.push(`${i},row-${i % 97}`);
    writeFileSync(file, rows.join("\n") + "\n"); // ≈ 5.6 MB: two 5 MiB parts
    const res = await lakehouse(sys, [
      "ingest",
      file,
      "--name",
      "cli_numbers",
      "--multipart-threshold",
      "1048576",
      "--part-size",
      String(5 * 1024 * 1024),
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(
      /above the multipart threshold: uploading to _uploads\/ingest\/cli_numbers\//,
    );
    expect(res.stderr).toMatch(/upload 100%/);
    expect(res.stdout).toMatch(/ingested 400000 rows into cli_numbers/);
    const sql = await lakehouse(sys, [
      "sql",
      "SELECT count(*) AS c, max(n) AS m FROM cli_numbers",
      "--json",
    ]);
    expect(JSON.parse(sql.stdout).rows).toEqual([[400000, 399999]]);
    // The staged upload is removed once the ingest has read it.
    const staged = await lakehouse(sys, ["ls", "_uploads/", "--json"]);
    expect(JSON.parse(staged.stdout).objects).toEqual([]);
  });

  it("ls lists the dataset's Parquet objects and get downloads one", async () => {
    const ls = await lakehouse(sys, ["ls", "datasets/"]);
    expect(ls.code, ls.stderr).toBe(0);
    const keys = ls.stdout
      .trimEnd()
      .split("\n")
      .slice(2)
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    const parquet = keys.find((k) => k.includes("cli_cities") && k.endsWith(".parquet"));
    expect(parquet, ls.stdout).toBeDefined();

    const out = join(dir, "cities.parquet");
    const get = await lakehouse(sys, ["get", parquet!, out]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stderr).toMatch(/download 100%/);
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 4).toString()).toBe("PAR1");
    expect(bytes.subarray(bytes.length - 4).toString()).toBe("PAR1");
  });

  it("put and get round-trip bytes, to a file and to stdout", async () => {
    const file = join(dir, "note.txt");
    writeFileSync(file, "hello from the cli\n");
    const put = await lakehouse(sys, ["put", file, "notes/hello.txt"]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^notes\/hello\.txt\t19\t/);
    const get = await lakehouse(sys, ["get", "notes/hello.txt"]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe("hello from the cli\n");
  });

  it("datasets and stats print tables", async () => {
    const ds = await lakehouse(sys, ["datasets"]);
    expect(ds.code, ds.stderr).toBe(0);
    expect(ds.stdout).toMatch(/^name\s+rows\s+version/);
    expect(ds.stdout).toMatch(/cli_cities\s+3\s+1/);
    await sys.json("/v1/observer/event", {
      method: "POST",
      json: {
        endpoint: "cli/e2e",
        success: false,
        source: "scenario",
        input_summary: "",
        output_summary: "",
        duration_ms: 1,
      },
    });
    const stats = await lakehouse(sys, ["stats", "--json"]);
    expect(stats.code, stats.stderr).toBe(0);
    const s = JSON.parse(stats.stdout);
    expect(s.failures).toBeGreaterThanOrEqual(1);
    const text = await lakehouse(sys, ["stats"]);
    expect(text.stdout).toMatch(/^failures\s+\d+$/m);
  });

  it("exit codes and messages: usage 2, failed request 1, auth 4, unreachable 3", async () => {
    const noName = await lakehouse(sys, ["ingest", join(dir, "cities.csv")]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/--name is required/);

    const noFile = await lakehouse(sys, ["ingest", join(dir, "missing.csv"), "--name", "x"]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/missing\.csv: no such file/);

    const unknown = await lakehouse(sys, ["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);

    const badSql = await lakehouse(sys, ["sql", "DROP TABLE cli_cities"]);
    expect(badSql.code).toBe(1);
    expect(badSql.stderr).toMatch(/^lakehouse: bad_request \(400\): /);

    const missing = await lakehouse(sys, ["get", "no/such/key"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not_found \(404\)/);

    const badToken = await lakehouse(sys, ["datasets"], { LAKEHOUSE_TOKEN: "wrong" });
    expect(badToken.code).toBe(4);
    expect(badToken.stderr).toMatch(/unauthorized \(401\): invalid bearer token/);

    const dead = await lakehouse({ url: `http://127.0.0.1:${await freePort()}` }, ["datasets"]);
    expect(dead.code).toBe(3);
    expect(dead.stderr).toMatch(
      /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
  });

  it("the data is still there after a restart", async () => {
    await sys.restart();
    const res = await lakehouse(sys, ["sql", "SELECT count(*) FROM cli_cities", "--csv"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.split("\r\n")[1]).toBe("3");
  });
});

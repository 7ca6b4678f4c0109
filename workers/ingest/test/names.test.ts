// Issue #21: ingest refuses what the SQL engine can never load or name, rather than accept a
// dataset every query then answers 422 on. Column names equal but for case (SQLite column names
// are case-insensitive), a NUL, a name past MAX_COLUMN_NAME_BYTES, a name with a prefix the query
// guard reserves, and dataset names the engine reserves (_lh_*, sqlite_*, _cf_*, pragma_*, any
// case). Each is a 400 naming the column or the name, whatever the source (a raw body, a
// multipart form, from_key) and the mode (replace, append), and nothing is written.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_COLUMN_NAME_BYTES } from "../../../shared/dataset";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function ingest(query: string, body?: BodyInit): Promise<{ status: number; body: Json }> {
  const res = await exports.default.fetch(`http://x/ingest?${query}`, {
    method: "POST",
    body: body ?? null,
    headers: body === undefined || body instanceof FormData ? {} : { "content-type": "text/csv" },
  });
  return { status: res.status, body: await res.json() };
}

async function listKeys(prefix: string): Promise<string[]> {
  const res = await env.STORAGE.fetch(
    `http://storage/storage/list?prefix=${encodeURIComponent(prefix)}`,
  );
  return ((await res.json()) as { objects: { key: string }[] }).objects.map((o) => o.key);
}

async function put(key: string, body: string): Promise<void> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, {
    method: "PUT",
    body,
  });
  expect(res.status).toBe(200);
}

const LONG = "c".repeat(100 * 1024);

/** Headers the engine cannot load or name, and what the 400 must say. */
const BAD_HEADERS: [string, string, RegExp][] = [
  [
    "case",
    "a,A\n1,2\n",
    /CSV header: column names "a" \(column 1\) and "A" \(column 2\) differ only in case/,
  ],
  [
    "case later",
    "id,Name,x,NAME\n1,2,3,4\n",
    /"Name" \(column 2\) and "NAME" \(column 4\) differ only in case/,
  ],
  ["nul", "a,b\u0000c\n1,2\n", /CSV header: column 2 name "b\\u0000c" contains a NUL character/],
  [
    "long",
    `a,${LONG}\n1,2\n`,
    new RegExp(
      `CSV header: column 2 name "c{20,}.*is ${LONG.length} bytes; the limit is ${MAX_COLUMN_NAME_BYTES}`,
    ),
  ],
  [
    "reserved column",
    "a,_LH_rowid\n1,2\n",
    /CSV header: column 2 name "_LH_rowid" starts with "_lh_", a prefix the SQL engine reserves/,
  ],
  ["sqlite column", "sqlite_x\n1\n", /column 1 name "sqlite_x" starts with "sqlite_"/],
];

const RESERVED_NAMES = [
  "_lh_tables",
  "_LH_garbage",
  "sqlite_master",
  "SQLite_schema",
  "_cf_KV",
  "pragma_table_info",
  "Pragma_x",
];

describe("ingest refuses what the engine cannot load (#21)", () => {
  it("bad column names: a raw body, a form and from_key, replace and append, each a 400 naming the column; nothing written", async () => {
    await put("uploads/names/ok.csv", "a,b\n1,2\n");
    for (const [label, csv, message] of BAD_HEADERS) {
      await put(`uploads/names/${label.replace(" ", "_")}.csv`, csv);
      const form = new FormData();
      form.append("file", new Blob([csv], { type: "text/csv" }), "x.csv");
      const sources: [string, string, BodyInit | undefined][] = [
        ["raw", "name=names_x", csv],
        ["form", "name=names_x", form],
        [
          "from_key",
          `name=names_x&from_key=uploads/names/${label.replace(" ", "_")}.csv`,
          undefined,
        ],
        ["append", "name=names_x&mode=append", csv],
        [
          "append from_key",
          `name=names_x&mode=append&from_key=uploads/names/${label.replace(" ", "_")}.csv`,
          undefined,
        ],
      ];
      for (const [how, query, body] of sources) {
        const res = await ingest(query, body);
        expect(res.status, `${label} ${how}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
        expect(res.body.error.code).toBe("bad_request");
        expect(res.body.error.message, `${label} ${how}`).toMatch(message);
        expect(
          res.body.error.message.length,
          `${label} ${how}: the message quotes a bounded name`,
        ).toBeLessThan(1000);
      }
    }
    expect((await env.CATALOG.fetch("http://catalog/catalog/manifest/names_x")).status).toBe(404);
    expect(await listKeys("datasets/names_x/")).toEqual([]);
    expect(await listKeys("_ingest/")).toEqual([]);
  });

  it("an existing dataset: an append or replace with a bad header is refused and the dataset is unchanged", async () => {
    const first = await ingest("name=names_kept", "a,b\n1,2\n");
    expect(first.status).toBe(200);
    for (const mode of ["append", "replace"]) {
      const res = await ingest(`name=names_kept&mode=${mode}`, "a,B,b\n1,2,3\n");
      expect(res.status, mode).toBe(400);
      expect(res.body.error.message).toMatch(
        /"B" \(column 2\) and "b" \(column 3\) differ only in case/,
      );
    }
    const manifest = (await (
      await env.CATALOG.fetch("http://catalog/catalog/manifest/names_kept")
    ).json()) as Json;
    expect(manifest.version).toBe(1);
    expect(manifest.objects).toHaveLength(1);
    expect(await listKeys("datasets/names_kept/")).toEqual(
      expect.arrayContaining([manifest.objects[0].key]),
    );
    // the names a header may use are still accepted: distinct in case-folded form, under the limit
    const ok = await ingest(
      "name=names_ok",
      `Ab,cD,${"é".repeat(MAX_COLUMN_NAME_BYTES / 2)},lh_x,x_sqlite_\n1,2,3,4,5\n`,
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it("dataset names the engine reserves, in any case: a 400 naming the name, for a body and for from_key; nothing written", async () => {
    for (const name of RESERVED_NAMES) {
      for (const [query, body] of [
        [`name=${name}`, "a\n1\n"],
        [`name=${name}&from_key=uploads/names/ok.csv`, undefined],
        [`name=${name}&mode=append`, "a\n1\n"],
      ] as const) {
        const res = await ingest(query, body);
        expect(res.status, `${query}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.error.message).toContain(
          `query.name: dataset name ${JSON.stringify(name)} starts with`,
        );
        expect(res.body.error.message).toMatch(/a prefix the SQL engine reserves/);
      }
      expect(await listKeys(`datasets/${name}/`)).toEqual([]);
    }
    expect(await listKeys("_ingest/")).toEqual([]);
    // names that only contain the prefixes are fine
    for (const name of ["lh_tables", "my_sqlite_master", "x_lh_"]) {
      const res = await ingest(`name=${name}`, "a\n1\n");
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(200);
    }
  });

  it("from_key with a '.' or '..' segment is a 400 naming the key, even when an object of the resolved name exists (#21)", async () => {
    await put("uploads/names/dots.csv", "a\n1\n");
    for (const key of [
      "uploads/./names/dots.csv",
      "uploads/names/x/../dots.csv",
      "./uploads/names/dots.csv",
    ]) {
      const res = await ingest(`name=names_dots&from_key=${encodeURIComponent(key)}`);
      expect(res.status, key).toBe(400);
      expect(res.body.error.message).toContain(
        `from_key: invalid storage key ${JSON.stringify(key)}: key contains a`,
      );
    }
    expect((await env.CATALOG.fetch("http://catalog/catalog/manifest/names_dots")).status).toBe(
      404,
    );
  });

  it("the catalog's registration refuses the same names and columns (ingest is not the only door)", async () => {
    const register = (body: Json) =>
      env.CATALOG.fetch("http://catalog/catalog/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const base = { schema_fingerprint: "f", objects: [] };
    const cases: [Json, RegExp][] = [
      [
        { ...base, name: "sqlite_master", schema: [{ name: "a", type: "int64" }] },
        /body\.name: dataset name "sqlite_master" starts with "sqlite_"/,
      ],
      [
        {
          ...base,
          name: "reg_x",
          schema: [
            { name: "a", type: "int64" },
            { name: "A", type: "int64" },
          ],
        },
        /body\.schema\[1\]\.name: column names "a" \(column 1\) and "A" \(column 2\) differ only in case/,
      ],
      [
        { ...base, name: "reg_x", schema: [{ name: "a\u0000", type: "int64" }] },
        /body\.schema\[0\]\.name: .*contains a NUL character/,
      ],
      [
        { ...base, name: "reg_x", schema: [{ name: LONG, type: "int64" }] },
        new RegExp(`body\\.schema\\[0\\]\\.name: .*the limit is ${MAX_COLUMN_NAME_BYTES}`),
      ],
    ];
    for (const [body, message] of cases) {
      const res = await register(body);
      const json = (await res.json()) as Json;
      expect(res.status, JSON.stringify(json).slice(0, 300)).toBe(400);
      expect(json.error.message).toMatch(message);
    }
  });
});

// The ingest Worker inside workerd with the real storage, catalog and query Workers
// beside it: CSV → Parquet → registered manifest, read back with hyparquet; the CSV
// parser and type inference on the quirks real files have; atomicity on failure.
// Issue #12: what the engine cannot load ([ingestd].max_columns / max_field_bytes /
// max_row_bytes) is a 400 naming line, column and key, and the parser's buffer is bounded;
// staged uploads are leased while the ingest runs and swept once their ingest is gone.
import { env, exports } from "cloudflare:workers";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import { PART_BYTES, R2Writer } from "../../../shared/r2-writer";
import { compressorsFor } from "../src/compression";
import { ByteCsvTokenizer, type ParserLimits } from "../src/csv-bytes";
import { inferColumn, parseTimestamp } from "../src/infer";
import { ParquetStream } from "../src/parquet-out";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function ingest(
  query: string,
  body?: BodyInit | null,
  contentType = "text/csv",
): Promise<{ status: number; body: Json }> {
  const res = await exports.default.fetch(`http://x/ingest?${query}`, {
    method: "POST",
    body: body ?? null,
    headers: body === undefined || body instanceof FormData ? {} : { "content-type": contentType },
  });
  return { status: res.status, body: await res.json() };
}

async function storageJson(path: string, init?: RequestInit): Promise<Json> {
  const res = await env.STORAGE.fetch(`http://storage/storage${path}`, init);
  return res.json();
}

async function readObject(key: string): Promise<ArrayBuffer> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`);
  expect(res.status).toBe(200);
  return res.arrayBuffer();
}

async function catalogJson(path: string): Promise<{ status: number; body: Json }> {
  const res = await env.CATALOG.fetch(`http://catalog/catalog${path}`);
  return { status: res.status, body: await res.json() };
}

/** The byte tokeniser with records decoded to strings, fed chunk by chunk (as convertCsv drives it). */
class Tokens {
  readonly tok: ByteCsvTokenizer;
  readonly rows: string[][] = [];
  readonly lines: number[] = [];
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  constructor(limits?: ParserLimits) {
    this.tok = new ByteCsvTokenizer(limits);
  }
  push(chunk: string | Uint8Array): void {
    this.tok.push(typeof chunk === "string" ? this.enc.encode(chunk) : chunk);
    this.drain(false);
  }
  end(): void {
    this.drain(true);
  }
  private drain(atEnd: boolean): void {
    const t = this.tok;
    while (t.next(atEnd)) {
      const fields: string[] = [];
      for (let k = 0; k < t.nf; k++) {
        const e = t.escaped[k] ? t.unescape(k) : t.ends[k]!;
        fields.push(this.dec.decode(t.buf.subarray(t.starts[k]!, e)));
      }
      t.header ??= fields;
      this.rows.push(fields);
      this.lines.push(t.recLine);
    }
  }
}

/** Parses `text` fed in chunks of `chunk` UTF-8 bytes (multi-byte characters may be split). */
function parse(text: string, chunk = 3): { rows: string[][]; lines: number[] } {
  const bytes = new TextEncoder().encode(text);
  const p = new Tokens();
  for (let i = 0; i < bytes.length; i += chunk) p.push(bytes.subarray(i, i + chunk));
  p.end();
  return { rows: p.rows, lines: p.lines };
}

const PEOPLE = `id,name,age,score,active,joined
1,Ada Lovelace,36,91.5,true,2024-01-15T09:30:00Z
2,Alan Turing,41,88.25,false,2024-02-01
3,Grace Hopper,85,,true,2024-03-10 14:00:00
4,Edsger Dijkstra,72,79,false,
`;

/** The Parquet data objects of a listing (not the tables' Iceberg metadata under <name>/metadata/). */
function dataObjects(objects: Json[]): Json[] {
  return objects.filter((o) => !/\/metadata\//.test(o.key));
}

describe("CSV parser", () => {
  it("handles quotes, escaped quotes, embedded commas and newlines, CRLF and a BOM across any chunking", () => {
    const text =
      '\ufeffid,comment,amount\r\n1,"hello, world",10\r\n2,"she said ""hi""",20\r\n3,"two\r\nlines",30\r\n\r\n4,plain,\r\n5,"end"';
    for (const chunk of [1, 2, 5, 1000]) {
      const { rows, lines } = parse(text, chunk);
      expect(rows, `chunk ${chunk}`).toEqual([
        ["id", "comment", "amount"],
        ["1", "hello, world", "10"],
        ["2", 'she said "hi"', "20"],
        ["3", "two\r\nlines", "30"],
        ["4", "plain", ""],
        ["5", "end"],
      ]);
      expect(lines, `chunk ${chunk}`).toEqual([1, 2, 3, 4, 7, 8]);
    }
  });

  it("names the line of an unterminated quote and of a stray character after a closing quote", () => {
    expect(() => parse('a,b\n1,2\n3,"open\n4,5\n')).toThrow(/line 3: unterminated quoted field/);
    expect(() => parse('a,b\n1,"x"y\n')).toThrow(
      /line 2: unexpected character "y" after a closing quote/,
    );
  });
});

describe("type inference", () => {
  it("picks the narrowest type; ambiguous is string; empty is null", () => {
    expect(inferColumn(["1", "-2", "", "30"])).toEqual({ type: "int64", nullable: true });
    expect(inferColumn(["1", "2.5", "1e3"])).toEqual({ type: "float64", nullable: false });
    expect(inferColumn(["true", "FALSE", "True"])).toEqual({ type: "bool", nullable: false });
    expect(
      inferColumn(["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00.5+02:00"]).type,
    ).toBe("timestamp");
    expect(inferColumn(["00501", "10001"]).type).toBe("string"); // leading zeros are identifiers
    expect(inferColumn(["1", "true"]).type).toBe("string");
    expect(inferColumn(["1", "abc"]).type).toBe("string");
    expect(inferColumn(["2024-02-30"]).type).toBe("string"); // no such day
    expect(inferColumn(["", ""])).toEqual({ type: "string", nullable: true });
    expect(inferColumn(["9223372036854775807"]).type).toBe("int64");
    expect(inferColumn(["9223372036854775808"]).type).toBe("float64");
    expect(parseTimestamp("2024-01-01T10:00:00+02:00")).toBe(Date.UTC(2024, 0, 1, 8));
  });
});

describe("ingest", () => {
  it("round-trips a people CSV into a manifest and a Parquet object with the same rows", async () => {
    const { status, body } = await ingest("name=people", PEOPLE);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.name).toBe("people");
    expect(body.version).toBe(1);
    expect(body.row_count).toBe(4);
    expect(body.changed).toBe(true);
    expect(body.schema).toEqual([
      { name: "id", type: "int64", nullable: false },
      { name: "name", type: "string", nullable: false },
      { name: "age", type: "int64", nullable: false },
      { name: "score", type: "float64", nullable: true },
      { name: "active", type: "bool", nullable: false },
      { name: "joined", type: "timestamp", nullable: true },
    ]);
    expect(body.dataset_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(body.objects).toHaveLength(1);
    const key: string = body.objects[0].key;
    expect(key).toMatch(/^datasets\/people\/\d{8}T\d{6}Z-[0-9a-f-]{36}\.parquet$/);

    const list = await catalogJson("/list");
    expect(list.body.datasets.map((d: Json) => [d.name, d.row_count, d.version])).toEqual([
      ["people", 4, 1],
    ]);
    const listed = await storageJson("/list?prefix=datasets/people/");
    // the data file, beside the table's Iceberg metadata (manifest, manifest list, table metadata)
    expect(
      listed.objects
        .map((o: Json) => o.key)
        .filter((k: string) => !k.startsWith("datasets/people/metadata/")),
    ).toEqual([key]);
    expect(
      listed.objects.filter((o: Json) => o.key.startsWith("datasets/people/metadata/")).length,
    ).toBe(3);
    // The staged CSV is gone.
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);

    const buf = await readObject(key);
    expect(buf.byteLength).toBe(body.objects[0].size);
    const meta = parquetMetadata(buf);
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe("SNAPPY");
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.statistics).toBeDefined();
    const rows = await parquetReadObjects({ file: buf });
    expect(rows.map((r) => [r.id, r.name, r.age, r.score, r.active])).toEqual([
      [1n, "Ada Lovelace", 36n, 91.5, true],
      [2n, "Alan Turing", 41n, 88.25, false],
      [3n, "Grace Hopper", 85n, null, true],
      [4n, "Edsger Dijkstra", 72n, 79, false],
    ]);
    expect(rows.map((r) => (r.joined as Date | null)?.toISOString() ?? null)).toEqual([
      "2024-01-15T09:30:00.000Z",
      "2024-02-01T00:00:00.000Z",
      "2024-03-10T14:00:00.000Z",
      null,
    ]);
  });

  it("re-ingesting identical content makes no new version and leaves no extra object", async () => {
    const again = await ingest("name=people", PEOPLE);
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(1);
    expect(again.body.changed).toBe(false);
    expect(dataObjects((await storageJson("/list?prefix=datasets/people/")).objects)).toHaveLength(
      1,
    );
  });

  it("append makes version 2 with the summed row count; version 1 stays readable", async () => {
    const more = "id,name,age,score,active,joined\n5,Barbara Liskov,84,95,true,2024-04-01\n";
    const { status, body } = await ingest("name=people&mode=append", more);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.version).toBe(2);
    expect(body.row_count).toBe(5);
    expect(body.objects).toHaveLength(2);
    const v1 = await catalogJson("/manifest/people?version=1");
    expect(v1.body.row_count).toBe(4);
    expect(v1.body.objects).toHaveLength(1);
    const history = await catalogJson("/history/people");
    expect(history.body.versions.map((v: Json) => v.version)).toEqual([2, 1]);
  });

  it("schema drift is a 409 naming both fingerprints, and leaves storage as it was", async () => {
    const before = (await storageJson("/list?prefix=datasets/")).objects.map((o: Json) => o.key);
    const { status, body } = await ingest("name=people&mode=append", "id,name\n9,Someone\n");
    expect(status).toBe(409);
    expect(body.error.code).toBe("conflict");
    const current = (await catalogJson("/manifest/people")).body;
    expect(body.error.message).toContain(current.schema_fingerprint);
    expect(body.error.message).toMatch(/new fingerprint [0-9a-f]{64}/);
    const after = (await storageJson("/list?prefix=datasets/")).objects.map((o: Json) => o.key);
    expect(after).toEqual(before);
    expect(current.version).toBe(2);
  });

  it("widens a column when a value after the first row group does not fit, and keeps every value", async () => {
    const n = 100_005;
    const lines = ["n,tag"];
    for (let i = 0; i < n; i++)
      lines.push(i === n - 2 ? `${i}.5,x` : `${i},${i % 3 === 0 ? "" : "tag"}`);
    const { status, body } = await ingest("name=widen", lines.join("\n") + "\n");
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.schema).toEqual([
      { name: "n", type: "float64", nullable: false },
      { name: "tag", type: "string", nullable: true },
    ]);
    expect(body.widened).toEqual(["n → float64"]);
    expect(body.row_count).toBe(n);
    const buf = await readObject(body.objects[0].key);
    const meta = parquetMetadata(buf);
    expect(meta.row_groups.length).toBe(2);
    const rows = await parquetReadObjects({
      file: buf,
      columns: ["n"],
      rowStart: n - 3,
      rowEnd: n,
    });
    expect(rows.map((r) => r.n)).toEqual([n - 3, n - 2 + 0.5, n - 1]);
    expect(dataObjects((await storageJson("/list?prefix=datasets/widen/")).objects)).toHaveLength(
      1,
    );
  });

  it("bytes that are not UTF-8 are a 400 naming the line and column, and nothing is written or staged", async () => {
    const enc = new TextEncoder();
    const body = new Uint8Array([
      ...enc.encode("id,city\n1,Paris\n2,Montr"),
      0xe9,
      ...enc.encode("al\n3,Lyon\n"),
    ]);
    const res = await ingest("name=latin1", body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/CSV line 3, column 2 \("city"\): invalid UTF-8/);
    expect((await catalogJson("/manifest/latin1")).status).toBe(404);
    expect((await storageJson("/list?prefix=datasets/latin1/")).objects).toEqual([]);
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);
  });

  it("infers dates, booleans in DuckDB's spellings and keeps zip codes as strings; appends keep the dataset's types", async () => {
    const first = await ingest(
      "name=typed",
      "day,ok,zip,n\n2024-01-31,yes,01234,1\n2024-02-29,No,12345,2\n",
    );
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.schema.map((f: Json) => `${f.name}:${f.type}`)).toEqual([
      "day:date",
      "ok:bool",
      "zip:string",
      "n:int64",
    ]);
    const meta = parquetMetadata(await readObject(first.body.objects[0].key));
    expect(meta.schema[1]).toMatchObject({
      name: "day",
      type: "INT32",
      converted_type: "DATE",
      field_id: 1,
    });
    // An append whose values would infer narrower types (a zip code without a leading zero) takes the dataset's.
    const more = await ingest("name=typed&mode=append", "day,ok,zip,n\n2024-03-01,t,54321,3\n");
    expect(more.status, JSON.stringify(more.body)).toBe(200);
    expect(more.body.version).toBe(2);
    expect(more.body.schema_fingerprint).toBe(first.body.schema_fingerprint);
    // A date-time in a date column widens it, which is schema drift for the existing dataset: 409.
    const drift = await ingest(
      "name=typed&mode=append",
      "day,ok,zip,n\n2024-03-01 10:00:00,t,54321,4\n",
    );
    expect(drift.status).toBe(409);
  });

  it("accepts a multipart form field `file` and quirky CSV (quotes, CRLF, BOM)", async () => {
    const form = new FormData();
    form.append(
      "file",
      new File(
        ['\ufeffid,comment,amount\r\n1,"hello, world",10\r\n2,"two\r\nlines",\r\n'],
        "q.csv",
        { type: "text/csv" },
      ),
    );
    const { status, body } = await ingest("name=quirks", form);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.schema.map((f: Json) => `${f.name}:${f.type}:${f.nullable}`)).toEqual([
      "id:int64:false",
      "comment:string:false",
      "amount:int64:true",
    ]);
    const rows = await parquetReadObjects({ file: await readObject(body.objects[0].key) });
    expect(rows.map((r) => r.comment)).toEqual(["hello, world", "two\r\nlines"]);
  });

  it("rejects bad input with a message naming the problem, and writes nothing", async () => {
    const cases: [string, BodyInit | null | undefined, number, RegExp][] = [
      ["mode=replace", "a\n1\n", 400, /name: missing/],
      ["name=bad%20name", "a\n1\n", 400, /name: invalid dataset name/],
      ["name=x&mode=merge", "a\n1\n", 400, /mode: expected "replace" or "append"/],
      ["name=x", undefined, 400, /file: no CSV given/],
      ["name=x", "a,b\n1,2\n3\n", 400, /CSV line 3: expected 2 fields/],
      ["name=x", 'a,b\n1,2\n3,"open\n', 400, /CSV line 3: unterminated quoted field/],
      ["name=x", "", 400, /CSV is empty/],
      ["name=x", "a,b\n", 400, /header row but no data rows/],
      ["name=x", "a,b,a\n1,2,3\n", 400, /duplicate column name "a" \(columns 1 and 3\)/],
      ["name=x", "a,,c\n1,2,3\n", 400, /column 2 has an empty name/],
      [
        "name=x&from_key=nope/missing.csv",
        undefined,
        404,
        /from_key: object "nope\/missing.csv" not found/,
      ],
      ["name=x&from_key=", "a\n1\n", 400, /from_key: empty storage key/],
      [
        "name=x&from_key=a%2F..%2Fb.csv",
        undefined,
        400,
        /from_key: invalid storage key "a\/..\/b.csv": key contains a "\.\." path segment/,
      ],
      ["name=", "a\n1\n", 400, /name: missing/],
      ["name=x&mode=", "a\n1\n", 400, /mode: expected "replace" or "append", got ""/],
    ];
    for (const [query, body, code, message] of cases) {
      const res = await ingest(query, body);
      expect(res.status, query).toBe(code);
      expect(res.body.error.message, query).toMatch(message);
    }
    const form = new FormData();
    form.append("other", "x");
    const noFile = await ingest("name=x", form);
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.message).toMatch(/file: no file in the form/);
    expect((await catalogJson("/manifest/x")).status).toBe(404);
    expect((await storageJson("/list?prefix=datasets/x/")).objects).toEqual([]);
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);
  });

  it("413 from a declared length over [ingestd].max_ingest_bytes, before the body is read", async () => {
    const res = await exports.default.fetch("http://x/ingest?name=huge", {
      method: "POST",
      headers: { "content-type": "text/csv", "content-length": String(256 * 1024 * 1024 + 1) },
      body: new ReadableStream({ pull: (c) => c.close() }),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as Json).error.message).toMatch(
      /exceeds the ingest cap of 268435456 bytes/,
    );
  });

  it("writes ZSTD pages (frames of node:zlib zstd) that decompress to the same rows", async () => {
    const compressors = (await compressorsFor("ZSTD"))!;
    const chunks: Uint8Array[] = [];
    const out = new ParquetStream(
      [
        { name: "id", type: "int64", nullable: false },
        { name: "text", type: "string", nullable: false },
      ],
      "ZSTD",
      async (b) => {
        chunks.push(b);
      },
      compressors,
    );
    const n = 50_000; // pages well above one 32 KiB frame
    await out.writeGroup([
      Array.from({ length: n }, (_, i) => BigInt(i)),
      Array.from({ length: n }, (_, i) => `row number ${i} ${"x".repeat(i % 7)}`),
    ]);
    await out.finish();
    const file = await new Blob(chunks).arrayBuffer();
    expect(parquetMetadata(file).row_groups[0]!.columns[0]!.meta_data!.codec).toBe("ZSTD");
    const zlib = (await import("node:zlib" as string)) as {
      zstdDecompressSync: (b: Uint8Array) => Uint8Array;
    };
    const rows = await parquetReadObjects({
      file,
      compressors: { ZSTD: (input: Uint8Array) => new Uint8Array(zlib.zstdDecompressSync(input)) },
      rowStart: n - 2,
      rowEnd: n,
    });
    expect(rows.map((r) => [r.id, r.text])).toEqual([
      [BigInt(n - 2), `row number ${n - 2} ${"x".repeat((n - 2) % 7)}`],
      [BigInt(n - 1), `row number ${n - 1} ${"x".repeat((n - 1) % 7)}`],
    ]);
  });

  it("ingests from_key, an object already in storage", async () => {
    const put = await env.STORAGE.fetch("http://storage/storage/objects/uploads/people.csv", {
      method: "PUT",
      body: PEOPLE,
    });
    expect(put.status).toBe(200);
    const { status, body } = await ingest("name=people_from_key&from_key=uploads/people.csv");
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.row_count).toBe(4);
    // The source object is the caller's: it stays.
    expect(
      (
        await env.STORAGE.fetch("http://storage/storage/objects/uploads/people.csv", {
          method: "HEAD",
        })
      ).status,
    ).toBe(200);
  });

  it("concurrent appends into one dataset serialise and lose no version", async () => {
    const header = "k,v\n";
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        ingest("name=concurrent&mode=append", `${header}${i},${i * 10}\n`),
      ),
    );
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(results.map((r) => r.body.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const m = (await catalogJson("/manifest/concurrent")).body;
    expect(m.version).toBe(6);
    expect(m.row_count).toBe(6);
    expect(m.objects).toHaveLength(6);
  });
});

describe("limits of the engine (#12)", () => {
  const LIMITS = { maxColumns: 100, maxFieldBytes: 1 << 20, maxRowBytes: 1 << 20 };
  function parseLimited(chunks: Iterable<string>): number {
    const p = new Tokens(LIMITS);
    for (const c of chunks) p.push(c);
    p.end();
    return p.rows.length;
  }

  it("the parser refuses more columns, a long field, a long record (UTF-8 bytes), naming line, column and key", () => {
    expect(parseLimited([Array.from({ length: 100 }, (_, i) => `c${i}`).join(",") + "\n"])).toBe(1);
    expect(() =>
      parseLimited([Array.from({ length: 101 }, (_, i) => `c${i}`).join(",") + "\n"]),
    ).toThrow(/CSV line 1, column 101: more than 100 columns \(\[ingestd\]\.max_columns/);
    expect(() => parseLimited(["a,b\n1,2\n", "3," + "x,".repeat(200) + "4\n"])).toThrow(
      /CSV line 3, column 101: more than 100 columns/,
    );
    const big = "x".repeat((1 << 20) + 1);
    expect(() => parseLimited(["id,text\n1,ok\n2,", big, "\n"])).toThrow(
      /CSV line 3, column 2 \("text"\): field of more than 1048576 bytes exceeds 1048576 bytes \(\[ingestd\]\.max_field_bytes/,
    );
    expect(() => parseLimited([`id,text\n1,"${big}"\n`])).toThrow(
      /CSV line 2, column 2 \("text"\): field of 1048577 bytes exceeds 1048576 bytes \(\[ingestd\]\.max_field_bytes/,
    );
    // 400 000 characters of € are 1.2 MB in UTF-8: over the byte limit though under it in characters.
    expect(() => parseLimited([`id,text\n1,${"€".repeat(400_000)}\n`])).toThrow(
      /CSV line 2, column 2 \("text"\): field of 1200000 bytes exceeds/,
    );
    const third = "y".repeat(400_000);
    expect(() => parseLimited([`a,b,c\n${third},${third},${third}\n`])).toThrow(
      /CSV line 2, column 3 \("c"\): record of at least 1200000 bytes exceeds 1048576 bytes \(\[ingestd\]\.max_row_bytes/,
    );
    expect(parseLimited([`a,b\n${"z".repeat(500_000)},${"z".repeat(500_000)}\n`])).toBe(2);
  });

  it("a 100 MB single line is refused after about a megabyte is buffered", () => {
    const p = new Tokens(LIMITS);
    const chunk = "q".repeat(64 * 1024);
    let pushed = 0;
    expect(() => {
      for (; pushed < 1600; pushed++) p.push(chunk); // 100 MiB if it were all read
    }).toThrow(/CSV line 1, column 1: field of more than 1048576 bytes/);
    expect(pushed).toBeLessThan(20);
  });

  it("ingest answers 400 naming the limit and writes nothing: 50 000 columns, a 3 MB field", async () => {
    const wide =
      Array.from({ length: 50_000 }, (_, i) => `c${i}`).join(",") +
      "\n" +
      Array.from({ length: 50_000 }, () => "1").join(",") +
      "\n";
    const res = await ingest("name=too_wide", wide);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(
      /CSV line 1, column 101: more than 100 columns \(\[ingestd\]\.max_columns/,
    );
    const long = await ingest("name=too_long", `id,text\n1,short\n2,${"L".repeat(3_000_000)}\n`);
    expect(long.status).toBe(400);
    expect(long.body.error.message).toMatch(
      /CSV line 3, column 2 \("text"\): field of more than 1048576 bytes exceeds 1048576 bytes \(\[ingestd\]\.max_field_bytes/,
    );
    expect((await catalogJson("/manifest/too_wide")).status).toBe(404);
    expect((await catalogJson("/manifest/too_long")).status).toBe(404);
    expect((await storageJson("/list?prefix=datasets/too_")).objects).toEqual([]);
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);
  });
});

describe("staged uploads (#12)", () => {
  it("an ingest leaves no lease and no staged object, and sweeps the staged object of an ingest that died", async () => {
    // A dead ingest: its staged object is there, its lease expired.
    const dead = "_ingest/00000000-dead-4000-8000-000000000000.csv";
    await env.CATALOG.fetch("http://catalog/catalog/staging/lease", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: dead, lease_ms: 1 }),
    });
    expect(
      (
        await env.STORAGE.fetch(`http://storage/storage/objects/${dead}`, {
          method: "PUT",
          body: "a\n1\n",
        })
      ).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const res = await ingest("name=sweeper", "a,b\n1,2\n");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // The sweep runs beside the ingest (waitUntil): wait for it.
    for (let i = 0; i < 50 && (await storageJson("/list?prefix=_ingest/")).objects.length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);
    expect((await catalogJson("/staging/leases")).body.leases).toEqual([]);
  });

  it("the lease is held while the ingest runs", async () => {
    // A body that trickles: while it is still arriving the staged key has a live lease.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("a,b\n1,2\n"));
        await gate;
        controller.enqueue(new TextEncoder().encode("3,4\n"));
        controller.close();
      },
    });
    const pending = exports.default.fetch("http://x/ingest?name=leased", {
      method: "POST",
      body,
      headers: { "content-type": "text/csv" },
      duplex: "half",
    } as RequestInit);
    let leases: Json[] = [];
    for (let i = 0; i < 100 && leases.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      leases = (await catalogJson("/staging/leases")).body.leases;
    }
    expect(leases).toHaveLength(1);
    expect(leases[0].key).toMatch(/^_ingest\/[0-9a-f-]{36}\.csv$/);
    expect(leases[0].expires_at).toBeGreaterThan(Date.now());
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).row_count).toBe(2);
    expect((await catalogJson("/staging/leases")).body.leases).toEqual([]);
  });
});

describe("the lake binding (ingest writes R2 directly)", () => {
  const bytes = (n: number, seed: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

  it("R2Writer: one part is one put, more are a multipart upload of equal parts; past the cap a 413 leaves nothing", async () => {
    const small = new R2Writer(env.LAKE, "w/small", { cap: 1 << 20, capKey: "test.cap" });
    await small.write(bytes(1000, 1));
    await small.write(bytes(24, 2));
    expect(small.started).toBe(false);
    expect((await small.close()).size).toBe(1024);
    expect((await env.LAKE.get("w/small"))!.size).toBe(1024);

    const big = new R2Writer(env.LAKE, "w/big", {
      cap: 3 * PART_BYTES,
      capKey: "test.cap",
      put: { httpMetadata: { contentType: "text/csv" } },
    });
    const chunk = bytes(3 * 1024 * 1024 + 7, 3); // chunks that straddle part boundaries
    for (let i = 0; i < 6; i++) await big.write(chunk);
    expect(big.started).toBe(true);
    const put = await big.close();
    expect(put.size).toBe(6 * chunk.length);
    const back = new Uint8Array(await (await env.LAKE.get("w/big"))!.arrayBuffer());
    expect(back.length).toBe(6 * chunk.length);
    for (const at of [0, chunk.length - 1, PART_BYTES, 2 * PART_BYTES + 5, back.length - 1])
      expect(back[at]).toBe(chunk[at % chunk.length]);

    const over = new R2Writer(env.LAKE, "w/over", { cap: PART_BYTES + 10, capKey: "test.cap" });
    await over.write(bytes(PART_BYTES, 4)); // a part is on its way
    await expect(over.write(bytes(11, 5))).rejects.toThrow(
      /"w\/over" body exceeds the cap of 8388618 bytes \(test\.cap\); nothing was stored/,
    );
    const aborted = new R2Writer(env.LAKE, "w/aborted", {
      cap: 4 * PART_BYTES,
      capKey: "test.cap",
    });
    await aborted.write(bytes(2 * PART_BYTES + 3, 6));
    await aborted.abort();
    expect(await env.LAKE.head("w/over")).toBeNull();
    expect(await env.LAKE.head("w/aborted")).toBeNull();
  });

  it("a body staged in several parts that widens near its end is re-read whole from the staged object, which is then gone", async () => {
    const n = 700_000;
    const lines = ["n,tag,pad"];
    for (let i = 0; i < n; i++)
      lines.push(`${i === n - 2 ? `${i}.5` : i},t${i % 97},${"p".repeat(i % 31)}`);
    const csv = lines.join("\n") + "\n";
    expect(csv.length).toBeGreaterThan(2 * PART_BYTES);
    // Chunked (no declared length), as a body through the gateway arrives.
    const enc = new TextEncoder().encode(csv);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= enc.length) return controller.close();
        controller.enqueue(enc.subarray(at, at + 65536));
        at += 65536;
      },
    });
    const chunkedRes = await exports.default.fetch("http://x/ingest?name=widen_big", {
      method: "POST",
      body,
      headers: { "content-type": "text/csv" },
      duplex: "half",
    } as RequestInit);
    // The same bytes with a declared length: read in native batches (reads.ts).
    const declaredRes = await exports.default.fetch("http://x/ingest?name=widen_big_declared", {
      method: "POST",
      body: enc,
      headers: { "content-type": "text/csv" },
    });
    for (const [name, res] of [
      ["widen_big", chunkedRes],
      ["widen_big_declared", declaredRes],
    ] as const) {
      const out = (await res.json()) as Json;
      expect(res.status, JSON.stringify(out)).toBe(200);
      expect(out.widened).toEqual(["n → float64"]);
      expect(out.row_count).toBe(n);
      expect(out.csv_bytes).toBe(enc.length);
      const rows = await parquetReadObjects({
        file: await readObject(out.objects[0].key),
        columns: ["n", "tag"],
        rowStart: n - 3,
        rowEnd: n,
      });
      expect(rows.map((r) => [r.n, r.tag])).toEqual([
        [n - 3, `t${(n - 3) % 97}`],
        [n - 2 + 0.5, `t${(n - 2) % 97}`],
        [n - 1, `t${(n - 1) % 97}`],
      ]);
      expect(
        dataObjects((await storageJson(`/list?prefix=datasets/${name}/`)).objects),
      ).toHaveLength(1);
    }
    expect((await storageJson("/list?prefix=_ingest/")).objects).toEqual([]);
    expect((await catalogJson("/staging/leases")).body.leases).toEqual([]);
  });

  it("from_key is read through the binding and the source object stays", async () => {
    await env.LAKE.put("uploads/w.csv", "a,b\n1,x\n2,y\n");
    const ok = await ingest("name=from_lake&from_key=uploads/w.csv");
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.row_count).toBe(2);
    expect(await env.LAKE.head("uploads/w.csv")).not.toBeNull();
  });
});

describe("ingest openapi.json", () => {
  it("documents POST /ingest: the query schema it parses with, and the streamed body as a multipart form or raw CSV", async () => {
    const doc = (await (
      await exports.default.fetch("http://x/ingest/openapi.json")
    ).json()) as Json;
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed).toEqual(["post /ingest"]);
    const op = doc.paths["/ingest"].post;
    const query = (op.parameters as Json[]).filter((p) => p.in === "query");
    expect(query.map((p) => p.name).sort()).toEqual(["from_key", "mode", "name"]);
    expect(query.find((p) => p.name === "name").required).toBe(true);
    expect(query.find((p) => p.name === "mode").schema.enum).toEqual(["replace", "append"]);
    expect(Object.keys(op.requestBody.content).sort()).toEqual(["multipart/form-data", "text/csv"]);
    expect(op.requestBody.content["multipart/form-data"].schema.properties.file).toBeDefined();
    expect(Object.keys(op.responses).sort()).toEqual(["200", "400", "404", "409", "413"]);
  });
});

// Test helpers: decode Avro container files with avsc (an independent reader: the Avro project's
// JavaScript lineage, not our writer) with 64-bit longs as bigints, and serve a directory as
// "S3" for icebird, which turns s3://bucket/key into https://bucket.s3.amazonaws.com/key.

import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join, normalize } from "node:path";
import avsc from "avsc";

const bigintLong = avsc.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: number | string) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === "bigint",
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

export interface AvscFile {
  /** The writer schema as stored in `avro.schema`. */
  schemaJson: any;
  /** File metadata other than avro.* as UTF-8 strings. */
  meta: Record<string, string>;
  codec: string;
  records: any[];
}

/** Decodes a whole Avro object container file with avsc's BlockDecoder (checks magic and sync markers). */
export function avscDecode(bytes: Uint8Array): Promise<AvscFile> {
  return new Promise((resolve, reject) => {
    const records: any[] = [];
    let schemaJson: any;
    let codec = "";
    const meta: Record<string, string> = {};
    const decoder = new avsc.streams.BlockDecoder({
      parseHook: (schema: any) => {
        schemaJson = schema;
        return avsc.Type.forSchema(schema, { registry: { long: bigintLong } } as any);
      },
    });
    decoder.on(
      "metadata",
      (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
        codec = c;
        for (const [k, v] of Object.entries(header.meta))
          if (!k.startsWith("avro.")) meta[k] = v.toString("utf8");
      },
    );
    decoder.on("data", (r: any) => records.push(r));
    decoder.on("error", reject);
    decoder.on("end", () => resolve({ schemaJson, meta, codec, records }));
    decoder.end(Buffer.from(bytes));
  });
}

/** Plain JS (records → objects, Buffers → Uint8Array) for deep comparisons. */
export function plain(v: any): any {
  if (v === null || v === undefined) return v ?? null;
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = plain(v[k]);
    return out;
  }
  return v;
}

/** field name → field-id over a record schema, recursively (nested names joined with "."). */
export function fieldIds(schema: any, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (type: any, path: string) => {
    if (Array.isArray(type)) return type.forEach((t) => visit(t, path));
    if (type && typeof type === "object") {
      if (type.type === "record") {
        for (const f of type.fields) {
          const p = path ? `${path}.${f.name}` : f.name;
          if (f["field-id"] !== undefined) out[p] = f["field-id"];
          visit(f.type, p);
        }
      } else if (type.type === "array") {
        if (type["element-id"] !== undefined) out[`${path}[]`] = type["element-id"];
        visit(type.items, `${path}[]`);
      }
    }
  };
  visit(schema, prefix);
  return out;
}

/** A static file server over `root` (GET with Range, HEAD) on 127.0.0.1, port 0. */
export async function serveDir(
  root: string,
): Promise<{ server: Server; base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    requests.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ""}`);
    if (path.includes("..")) return void res.writeHead(400).end();
    let body: Buffer;
    try {
      body = await readFile(join(root, path));
    } catch {
      return void res.writeHead(404).end();
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      if (start >= body.length)
        return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      const part = body.subarray(start, end + 1);
      res.writeHead(206, {
        "content-length": part.length,
        "content-range": `bytes ${start}-${end}/${body.length}`,
      });
      return void res.end(req.method === "HEAD" ? undefined : part);
    }
    res.writeHead(200, { "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error("no port");
  return { server, base: `http://127.0.0.1:${addr.port}`, requests };
}

/** A fetch that sends https://<bucket>.s3.amazonaws.com/<key> to `<base>/<bucket>/<key>` and refuses anything else. */
export function s3Fetch(base: string, realFetch: typeof fetch): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const m = /^(.+)\.s3\.amazonaws\.com$/.exec(url.hostname);
    if (url.protocol !== "https:" || !m) throw new Error(`test fetch: unexpected URL ${url}`);
    return realFetch(`${base}/${m[1]}${url.pathname}`, init);
  }) as typeof fetch;
}

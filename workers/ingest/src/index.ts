// lakehouse-ingest: CSV → Parquet datasets (DESIGN §6 Ingest).
//   POST /ingest?name=<dataset>&mode=replace|append[&from_key=<storage key>]
// (public: POST /v1/ingest?name=…, the family root as in the seed; /ingest/ingest is kept as an
// alias for clients written against the first TypeScript releases and is not in the document).
// with a multipart form field `file`, a raw CSV body, or from_key. Atomic: the Parquet
// object is written first, then registered in the catalog (which serialises concurrent
// ingests of a dataset); any failure deletes what this ingest wrote, so storage and the
// catalog are left as they were. Identical content makes no new version.
// The bytes go through the Worker's own binding to the lake bucket (LAKE): the from_key object
// is read, the staged CSV and the Parquet object written and deleted there, with the storage
// Worker's rules applied here (shared/keys.ts key rules on from_key, [storaged].max_put_bytes
// on every object written, unknown lengths as multipart uploads by shared/r2-writer.ts).
// Compaction still reads and writes through the storage Worker.
// The route is registered in GET /ingest/openapi.json with registerPath: its query is parsed
// with the registered IngestQuery schema, while the body (a multipart form or the raw CSV) is
// streamed as before and never given to a validator; the caps (413) are checked here.
// Staged uploads (`_ingest/<uuid>.csv`) are leased in the catalog before they are written
// (POST /catalog/staging/lease), renewed every third of [ingestd].staging_lease_s while the
// ingest runs and released at the end, so an ingest killed mid-way leaves an object the
// catalog's sweep deletes once the lease expires; each ingest starts one page of that sweep.
// [ingestd].max_columns / max_field_bytes / max_row_bytes are checked while parsing (csv-bytes.ts).
// Internal (service bindings only; the gateway does not forward it, not in the document):
//   POST /ingest/compact {name, schema, objects} → {objects: [{key, size, row_count, content_sha256}]}
// rewrites the given objects' rows into new objects of full row groups (compact.ts); it
// registers nothing: the catalog calls it and registers the result.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type AppEnv, createServiceApp, parseWith, readJson } from "../../../shared/app";
import { gatewayBodyCap } from "../../../shared/body-cap";
import { type ServiceClient, serviceClient } from "../../../shared/clients";
import { COLUMN_TYPES, datasetNameSchema, schemaFingerprint } from "../../../shared/dataset";
import { LakehouseError } from "../../../shared/errors";
import { keyProblem } from "../../../shared/keys";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { R2Writer } from "../../../shared/r2-writer";
import type { ColumnType, Manifest } from "../../../shared/types";
import { compactObjects } from "./compact";
import { compressorsFor } from "./compression";
import { convertCsv } from "./ingest";
import { type BatchReader, batched, batchReader, concat } from "./reads";

const { app, api } = createServiceApp<Env>("ingest", "ingest");
/** Most objects one POST /ingest/compact rewrites (each costs storage subrequests). */
const MAX_COMPACT_OBJECTS = 1000;
type C = Context<AppEnv<Env>>;

function tooLarge(bytes: number | string, cap: number): LakehouseError {
  return new LakehouseError(
    "payload_too_large",
    `CSV of ${bytes} bytes exceeds the ingest cap of ${cap} bytes ([ingestd].max_ingest_bytes)`,
  );
}

async function deleteQuietly(lake: R2Bucket, key: string): Promise<void> {
  try {
    await lake.delete(key);
  } catch (err) {
    console.error(`[ingest] could not delete ${key}: ${(err as Error).message}`);
  }
}

/**
 * The lease of this ingest's staged key in the catalog: acquired before the object is
 * written, renewed on a timer, released at the end. While it is live the sweep keeps the
 * object; once this ingest dies it expires and the next sweep deletes the object.
 */
class StagingLease {
  readonly key = `_ingest/${crypto.randomUUID()}.csv`;
  private timer: ReturnType<typeof setInterval> | undefined;
  private held = false;

  constructor(
    private readonly catalog: ServiceClient,
    private readonly leaseMs: number,
  ) {}

  private async record(): Promise<void> {
    await this.catalog.json("/staging/lease", {
      method: "POST",
      json: { key: this.key, lease_ms: this.leaseMs },
    });
  }

  async acquire(): Promise<void> {
    await this.record(); // fails the ingest: an unleased staged object could be swept under it
    this.held = true;
    this.timer = setInterval(
      () => {
        this.record().catch((err) =>
          console.error(
            `[ingest] renewing the lease of ${this.key} failed: ${(err as Error).message}`,
          ),
        );
      },
      Math.max(1000, Math.floor(this.leaseMs / 3)),
    );
  }

  async release(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.held) return;
    this.held = false;
    try {
      const res = await this.catalog.fetch("/staging/release", {
        method: "POST",
        json: { key: this.key },
      });
      await res.body?.cancel();
    } catch (err) {
      console.error(
        `[ingest] releasing the lease of ${this.key} failed (it expires): ${(err as Error).message}`,
      );
    }
  }
}

const CSV_PUT: R2PutOptions = { httpMetadata: { contentType: "text/csv" } };

/** Where the staged CSV goes: the lake, within the ingest cap and the storage Worker's object cap. */
function stagingWriter(lake: R2Bucket, key: string, cap: number, putCap: number): R2Writer {
  return putCap < cap
    ? new R2Writer(lake, key, { cap: putCap, capKey: "[storaged].max_put_bytes", put: CSV_PUT })
    : new R2Writer(lake, key, { cap, capKey: "[ingestd].max_ingest_bytes", put: CSV_PUT });
}

/** Stages a request body (a multipart form's file) as an object so it can be read (and re-read) as a stream. */
async function stage(
  lake: R2Bucket,
  body: ReadableStream<Uint8Array>,
  cap: number,
  putCap: number,
  lease: StagingLease,
): Promise<{ key: string; etag: string }> {
  await lease.acquire();
  const out = stagingWriter(lake, lease.key, cap, putCap);
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      if (out.size + r.value.byteLength > cap) throw tooLarge(`more than ${cap}`, cap);
      await out.write(r.value);
    }
    const put = await out.close();
    return { key: put.key, etag: put.etag };
  } catch (err) {
    await reader.cancel().catch(() => {});
    await out.abort();
    throw err;
  }
}

/**
 * A raw request body converted while it is staged (issue #14): the converter pulls chunks,
 * and each chunk is counted against the cap and written to the staging upload before the
 * converter sees it, so staging keeps pace with the conversion (one chunk in flight, no
 * unbounded tee) and the body is read once. Staging goes straight into the lake in parts of
 * 8 MiB (R2Writer), each uploaded while the conversion goes on (one part in flight). The staged
 * object is what a widening re-reads: finish() stages the rest of the body and completes it.
 * A conversion that read the body to its end needs no re-read: discard() drops the upload
 * (nothing was committed, so nothing is left to delete), as abandon() does after a failure.
 * Over the cap → 413 before any of it is ingested.
 */
class LiveBody {
  /** A body with a declared length, read in batches natively (reads.ts); else chunk by chunk, counted. */
  private readonly batches: BatchReader | undefined;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private readonly out: R2Writer;
  private seen = 0;
  private ended = false;
  private used = false;
  readonly stream: ReadableStream<Uint8Array>;

  constructor(
    lake: R2Bucket,
    body: ReadableStream<Uint8Array>,
    private readonly cap: number,
    putCap: number,
    key: string,
    declared: boolean,
  ) {
    this.out = stagingWriter(lake, key, cap, putCap);
    // A declared length was checked against the cap and is enforced by the runtime, so a read
    // error is never the gateway cutting the body at its cap: batches can be read natively.
    // A chunked body is read chunk by chunk so the chunk that crosses a cap is counted before
    // the error the gateway ends the stream with.
    if (declared) this.batches = batchReader(body, BATCH_BYTES);
    else this.reader = body.getReader();
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const chunk = await this.step();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
        // The converter stopping early (a widening, an error) leaves the rest to finish() or abandon().
        cancel: () => {},
      },
      { highWaterMark: 0 },
    );
  }

  /** The stream for the first pass only; later passes re-read the staged object. */
  take(): ReadableStream<Uint8Array> | undefined {
    if (this.used) return undefined;
    this.used = true;
    return this.stream;
  }

  /**
   * The next batch of the body: request bodies arrive in small chunks (4 KiB through a service
   * binding), so reads are gathered into batches of about BATCH_BYTES, one staging write and one
   * parse step each, instead of thousands of tiny ones.
   */
  private async step(): Promise<Uint8Array | undefined> {
    if (this.batches) {
      let batch: Uint8Array | undefined;
      try {
        batch = await this.batches.read();
      } catch (err) {
        throw new LakehouseError(
          "bad_request",
          `the request body could not be read (${(err as Error).message})`,
        );
      }
      if (!batch) {
        this.ended = true;
        return undefined;
      }
      this.seen += batch.byteLength;
      if (this.seen > this.cap) throw tooLarge(`more than ${this.cap}`, this.cap);
      await this.out.write(batch);
      return batch;
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    while (n < BATCH_BYTES && !this.ended) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.reader!.read();
      } catch (err) {
        // The gateway errors a chunked body past its cap (after passing on the chunk that crosses it).
        if (this.seen > this.cap) throw tooLarge(`more than ${this.cap}`, this.cap);
        throw new LakehouseError(
          "bad_request",
          `the request body could not be read (${(err as Error).message})`,
        );
      }
      if (r.done) {
        this.ended = true;
        break;
      }
      this.seen += r.value.byteLength;
      if (this.seen > this.cap) throw tooLarge(`more than ${this.cap}`, this.cap);
      parts.push(r.value);
      n += r.value.byteLength;
    }
    if (n === 0) return undefined;
    const batch = concat(parts, n);
    await this.out.write(batch);
    return batch;
  }

  /** Stages the rest of the body and completes the staged object, so it can be re-read; its ETag. */
  async finish(): Promise<string> {
    while (!this.ended) await this.step();
    return (await this.out.close()).etag;
  }

  /**
   * After a conversion that read the whole body (within the cap): the staged copy is not needed,
   * so its upload is dropped rather than completed and deleted.
   */
  async discard(): Promise<void> {
    if (!this.ended)
      throw new LakehouseError("internal", "the request body was not read to its end");
    await this.out.abort();
  }

  /** Ends the staging upload after a failure (nothing of it is committed). */
  async abandon(): Promise<void> {
    await (this.batches ?? this.reader)!.cancel().catch(() => {});
    await this.out.abort();
  }
}

/** Bytes gathered per read of a request body (LiveBody.step). */
const BATCH_BYTES = 256 * 1024;

interface Source {
  key: string;
  staged: boolean;
  /** The ETag every pass must read (a from_key object replaced mid-ingest is a 409); set for a live body once staged. */
  etag?: string;
  /** A raw body being staged while the first pass converts it. */
  live?: LiveBody;
}

async function resolveSource(
  c: C,
  lake: R2Bucket,
  cap: number,
  putCap: number,
  fromKey: string | undefined,
  lease: StagingLease,
): Promise<Source> {
  if (fromKey !== undefined) {
    // The storage Worker's key rules (shared/keys.ts), as a read through /v1/storage would apply them.
    const problem = keyProblem(fromKey);
    if (problem)
      throw new LakehouseError(
        "bad_request",
        `from_key: invalid storage key ${JSON.stringify(fromKey.slice(0, 200))}: ${problem}`,
      );
    const head = await lake.head(fromKey);
    if (!head)
      throw new LakehouseError(
        "not_found",
        `from_key: object ${JSON.stringify(fromKey)} not found in storage`,
      );
    if (head.size > cap) throw tooLarge(head.size, cap);
    return { key: fromKey, staged: false, etag: head.etag };
  }
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > cap) throw tooLarge(declared, cap);
  if (type.startsWith("multipart/form-data")) {
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch (err) {
      throw new LakehouseError(
        "bad_request",
        `file: the multipart form could not be read (${(err as Error).message})`,
      );
    }
    const file = form.get("file");
    if (file === null || typeof file === "string") {
      throw new LakehouseError(
        "bad_request",
        'file: no file in the form; send the CSV as the multipart form field "file"',
      );
    }
    if (file.size > cap) throw tooLarge(file.size, cap);
    const staged = await stage(
      lake,
      file.stream() as ReadableStream<Uint8Array>,
      cap,
      putCap,
      lease,
    );
    return { key: staged.key, staged: true, etag: staged.etag };
  }
  const body = c.req.raw.body;
  if (body === null || (declared === "0" && !type.includes("csv"))) {
    throw new LakehouseError(
      "bad_request",
      'file: no CSV given; send a multipart form field "file", a text/csv request body, or ?from_key=<storage key>',
    );
  }
  // A body the gateway forwarded chunked carries the gateway's cap: stage no more than it.
  const gatewayCap = gatewayBodyCap(c.req.raw.headers);
  await lease.acquire();
  const live = new LiveBody(
    lake,
    body,
    gatewayCap === undefined ? cap : Math.min(cap, gatewayCap),
    putCap,
    lease.key,
    declared !== undefined,
  );
  return { key: lease.key, staged: true, live };
}

type IngestResponse = Manifest & { changed: boolean };

// ---- the route's OpenAPI entry; IngestQuery also parses the query ----

const IngestQuery = z.object({
  name: datasetNameSchema("missing query parameter ?name=<dataset>", { creating: true }),
  mode: z
    .enum(["replace", "append"], {
      error: (iss) => `expected "replace" or "append", got ${JSON.stringify(iss.input)}`,
    })
    .optional()
    .openapi({
      description:
        "replace (default): the CSV becomes the dataset; append: it is added as another object",
    }),
  from_key: z.string().min(1, { error: "empty storage key" }).optional().openapi({
    description:
      "ingest this object already in storage instead of a request body (for files above the request cap)",
    example: "uploads/people.csv",
  }),
});

const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .openapi("IngestError");
const errorJson = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorBody } },
});
const IngestResult = z
  .object({
    dataset_id: z.string(),
    name: z.string(),
    schema: z.array(
      z.object({
        name: z.string(),
        type: z.enum(COLUMN_TYPES as [string, ...string[]]),
        nullable: z.boolean(),
      }),
    ),
    schema_fingerprint: z.string(),
    objects: z.array(
      z.object({
        key: z.string(),
        size: z.number().int(),
        row_count: z.number().int(),
        content_sha256: z.string().optional(),
      }),
    ),
    row_count: z.number().int(),
    version: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
    changed: z.boolean().openapi({
      description: "false when identical content was already registered (no new version)",
    }),
    ingested_rows: z.number().int(),
    csv_bytes: z.number().int(),
    widened: z.array(z.string()).optional().openapi({
      description: 'columns whose inferred type was widened while reading ("col → type")',
    }),
  })
  .openapi("IngestResult");

api.openAPIRegistry.registerPath({
  method: "post",
  path: "/",
  summary:
    "Ingest a CSV as a Parquet dataset version (a multipart field `file`, a raw text/csv body, or ?from_key=)",
  request: {
    query: IngestQuery,
    headers: z.object({
      "content-length": z.string().optional().openapi({
        description: "over [ingestd].max_ingest_bytes is a 413 before the body is read",
      }),
    }),
    body: {
      required: false,
      description:
        "the CSV, streamed (not read when from_key is given); a body without a declared length is counted and cut off at the cap",
      content: {
        "multipart/form-data": {
          schema: z.object({
            file: z.string().openapi({ format: "binary", description: "the CSV file" }),
          }),
        },
        "text/csv": {
          schema: z.string().openapi({ description: "the CSV text: a header row, then data rows" }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "the dataset's current manifest and what was read",
      content: { "application/json": { schema: IngestResult } },
    },
    400: errorJson(
      "bad name, mode or from_key, no file, or a CSV that cannot be read (the message names the line)",
    ),
    404: errorJson("from_key names no object in storage"),
    409: errorJson("schema drift: the dataset exists with other column types"),
    413: errorJson("over [ingestd].max_ingest_bytes"),
  },
});

async function ingestRoute(c: C): Promise<Response> {
  const cfg = lakehouseConfig(c.env).ingestd;
  const query = parseWith(IngestQuery, c.req.query(), "query");
  const name = query.name;
  const mode = query.mode ?? "replace";
  const env = c.env as unknown as Record<string, unknown>;
  const catalog = serviceClient(env, "catalog", c.get("requestId"));
  sweepOnePage(c, catalog);
  const lease = new StagingLease(catalog, cfg.staging_lease_s * 1000);
  const putCap = lakehouseConfig(c.env).storaged.max_put_bytes;
  try {
    return await ingestFrom(
      c,
      await resolveSource(c, c.env.LAKE, cfg.max_ingest_bytes, putCap, query.from_key, lease),
      name,
      mode,
      putCap,
      catalog,
    );
  } finally {
    await lease.release();
  }
}

/** Starts one page of the catalog's staging sweep beside this ingest (never fails the ingest). */
function sweepOnePage(c: C, catalog: ServiceClient): void {
  const run = catalog
    .fetch("/staging/sweep?pages=1", { method: "POST" })
    .then((res) => res.body?.cancel())
    .catch((err) => console.error(`[ingest] staging sweep failed: ${(err as Error).message}`));
  try {
    c.executionCtx.waitUntil(run);
  } catch {
    // no execution context (a direct app.request in a test): the promise runs on its own
  }
}

/** Opens the source for one pass: the ETag read first, so every pass reads the same bytes. */
async function openSource(lake: R2Bucket, source: Source): Promise<ReadableStream<Uint8Array>> {
  const obj = await lake.get(
    source.key,
    source.etag ? { onlyIf: { etagMatches: source.etag } } : {},
  );
  if (!obj) {
    if (source.staged)
      throw new LakehouseError(
        "internal",
        `the staged CSV ${JSON.stringify(source.key)} is gone (its lease expired?); nothing was committed`,
      );
    throw new LakehouseError(
      "not_found",
      `from_key: object ${JSON.stringify(source.key)} not found in storage`,
    );
  }
  if (!("body" in obj))
    throw new LakehouseError(
      "conflict",
      `from_key: object ${JSON.stringify(source.key)} changed while being ingested; nothing was committed, retry`,
    );
  return batched(obj.body, BATCH_BYTES);
}

const PARQUET_PUT: R2PutOptions = {
  httpMetadata: { contentType: "application/vnd.apache.parquet" },
};

async function ingestFrom(
  c: C,
  source: Source,
  name: string,
  mode: "replace" | "append",
  putCap: number,
  catalog: ServiceClient,
): Promise<Response> {
  const cfg = lakehouseConfig(c.env).ingestd;
  const lake = c.env.LAKE;
  try {
    const codec =
      cfg.compression === "zstd" ? "ZSTD" : cfg.compression === "none" ? "UNCOMPRESSED" : "SNAPPY";
    const compressors = await compressorsFor(codec);
    // An existing dataset with the same columns lends its types: a new file conforms to
    // them when its values fit (a file of whole numbers into a float64 column), and
    // widening past them ends in the catalog's 409 on schema drift.
    const lend = await existingSchema(catalog, name);
    let types: ColumnType[] | undefined;
    const widenings: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const body = source.live?.take() ?? (await openSource(lake, source));
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z");
      const outKey = `${cfg.prefix}${name}/${stamp}-${crypto.randomUUID()}.parquet`;
      // Nothing reaches R2 before the first full part (or the end), so a CSV rejected early
      // never creates anything; the object exists only once close() commits it.
      const out = new R2Writer(lake, outKey, {
        cap: putCap,
        capKey: "[storaged].max_put_bytes",
        put: PARQUET_PUT,
      });
      let stored: { key: string; size: number };
      let outcome: Awaited<ReturnType<typeof convertCsv>>;
      try {
        outcome = await convertCsv(body, (bytes) => out.write(bytes), {
          sampleRows: cfg.sample_rows,
          rowGroupRows: cfg.row_group_rows,
          rowGroupBytes: cfg.row_group_bytes,
          nullStrings: cfg.null_strings,
          codec,
          compressors,
          types,
          lend,
          limits: {
            maxColumns: cfg.max_columns,
            maxFieldBytes: cfg.max_field_bytes,
            maxRowBytes: cfg.max_row_bytes,
          },
        });
        if (outcome.kind === "widen") {
          await out.abort();
          // The next pass re-reads the staged object: stage the rest of the body first.
          if (source.live && attempt === 0) source.etag = await source.live.finish();
          if (attempt > 2 * outcome.types.length + 1)
            throw new LakehouseError("internal", "type inference did not settle");
          types = outcome.types;
          widenings.push(`${outcome.column} → ${outcome.to}`);
          continue;
        }
        // The body was read to its end within the cap: the staged copy is not needed any more.
        if (source.live && attempt === 0) await source.live.discard();
        stored = await out.close();
      } catch (err) {
        await out.abort();
        throw err;
      }
      // The object is in place: register it. Any failure removes it again.
      let manifest: IngestResponse;
      try {
        manifest = await catalog.json<IngestResponse>("/register", {
          method: "POST",
          json: {
            name,
            schema: outcome.schema,
            schema_fingerprint: await schemaFingerprint(outcome.schema),
            objects: [
              {
                key: stored.key,
                size: stored.size,
                row_count: outcome.rows,
                content_sha256: outcome.sha256,
              },
            ],
            mode,
          },
        });
      } catch (err) {
        // A refusal (4xx) committed nothing: the object is ours to delete. Any other failure
        // (a 5xx, a lost answer) may have followed a commit: deleting then could leave a
        // manifest listing a missing object, so the object stays (an orphan if unlisted).
        if (err instanceof LakehouseError && err.status >= 400 && err.status < 500)
          await deleteQuietly(lake, outKey);
        throw err;
      }
      if (!manifest.changed) await deleteQuietly(lake, outKey);
      return c.json({
        ...manifest,
        ingested_rows: outcome.rows,
        csv_bytes: outcome.csvBytes,
        ...(widenings.length ? { widened: widenings } : {}),
      });
    }
  } finally {
    if (source.live) await source.live.abandon();
    if (source.staged) await deleteQuietly(lake, source.key);
  }
}

api.post("/", ingestRoute);
app.post("/ingest/", ingestRoute);
api.post("/ingest", ingestRoute); // the alias: public POST /v1/ingest/ingest

/**
 * The current dataset's columns, lent to the conversion: when the CSV's header has the same
 * names, a new file conforms to those types where its values fit (a file of whole numbers into
 * a float64 column), and widening past them ends in the catalog's 409 on schema drift.
 */
async function existingSchema(
  catalog: ServiceClient,
  name: string,
): Promise<{ names: string[]; types: ColumnType[] } | undefined> {
  const res = await catalog.fetch(`/manifest/${encodeURIComponent(name)}`);
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  const manifest = (await res.json()) as Manifest;
  return { names: manifest.schema.map((f) => f.name), types: manifest.schema.map((f) => f.type) };
}

// ---- POST /ingest/compact (internal: the catalog's compaction calls it) ----

const CompactBody = z.object({
  name: datasetNameSchema(),
  schema: z
    .array(
      z.object({
        name: z.string().min(1, { error: "empty column name" }),
        type: z.enum(COLUMN_TYPES as [string, ...string[]], {
          error: (iss) =>
            `expected one of ${COLUMN_TYPES.join(", ")}, got ${JSON.stringify(iss.input)}`,
        }),
        nullable: z.boolean().optional(),
      }),
    )
    .min(1, { error: "expected at least one column" }),
  objects: z
    .array(
      z.object({
        key: z.string().min(1, { error: "empty storage key" }),
        size: z.number().int().min(0),
        row_count: z.number().int().min(0),
      }),
    )
    .min(1, { error: "expected at least one object" })
    .max(MAX_COMPACT_OBJECTS, { error: `at most ${MAX_COMPACT_OBJECTS} objects per call` }),
});

async function compactRoute(c: C): Promise<Response> {
  const cfg = lakehouseConfig(c.env).ingestd;
  const body = parseWith(CompactBody, await readJson(c), "body");
  const seen = new Set<string>();
  body.schema.forEach((f, i) => {
    if (seen.has(f.name))
      throw new LakehouseError(
        "bad_request",
        `body.schema[${i}].name: duplicate column name ${JSON.stringify(f.name)}`,
      );
    seen.add(f.name);
  });
  // Only the dataset's own data objects: `<prefix><name>/<file>.parquet`, as ingest and
  // compaction write them — never another dataset's, nor anything outside the prefix, nor a
  // deeper key (the catalog's Iceberg metadata lives in `<prefix><name>/metadata/`).
  const own = `${cfg.prefix}${body.name}/`;
  const keys = new Map<string, number>();
  body.objects.forEach((o, i) => {
    const rest = o.key.startsWith(own) ? o.key.slice(own.length) : "";
    if (!/^[^/]+\.parquet$/.test(rest)) {
      throw new LakehouseError(
        "bad_request",
        `body.objects[${i}].key: ${JSON.stringify(o.key)} is not a data object of dataset ${JSON.stringify(body.name)} (expected ${JSON.stringify(own + "<file>.parquet")})`,
      );
    }
    const first = keys.get(o.key);
    if (first !== undefined)
      throw new LakehouseError(
        "bad_request",
        `body.objects[${i}].key: ${JSON.stringify(o.key)} is listed twice (also objects[${first}])`,
      );
    keys.set(o.key, i);
  });
  const codec =
    cfg.compression === "zstd" ? "ZSTD" : cfg.compression === "none" ? "UNCOMPRESSED" : "SNAPPY";
  const result = await compactObjects({
    storage: serviceClient(
      c.env as unknown as Record<string, unknown>,
      "storage",
      c.get("requestId"),
    ),
    prefix: cfg.prefix,
    name: body.name,
    schema: body.schema.map((f) => ({
      name: f.name,
      type: f.type as ColumnType,
      nullable: f.nullable ?? true,
    })),
    objects: body.objects,
    rowGroupRows: cfg.row_group_rows,
    codec,
    compressors: await compressorsFor(codec),
  });
  return c.json(result);
}

api.post("/compact", compactRoute);

export default app satisfies ExportedHandler<Env>;

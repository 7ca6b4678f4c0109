// lakehouse-catalog: dataset manifests and versions (DESIGN §6 Catalog), kept by the
// Catalog Durable Object. After a change is durably committed, the query Worker is told
// (POST /sql/datasets/changed) and awaited, so the next query sees the change at once;
// a failing or absent query Worker is logged and never undoes the catalog change.
// Every route is declared with `api.openapi(createRoute(...))`: the zod schemas below validate
// the request (a failure is a 400 naming the field and value) and are what
// GET /catalog/openapi.json documents.
// Registration (internal: ingest calls it) accepts only objects the ingest wrote for that
// dataset, each once: every key under `<[ingestd].prefix><name>/`, no key twice, an append
// adds no key the current version lists, no key another dataset lists; a name equal to
// another but for case is a 409. A delete removes only keys no kept version lists.
// Staged uploads: internal routes /catalog/staging/{lease,release,sweep} (not in the OpenAPI
// document, not forwarded by the gateway) keep the leases of `_ingest/` objects; the sweep
// deletes those whose lease is missing or expired, on the cron trigger (`scheduled`) and
// when an ingest starts. The cron also sweeps orphans under the dataset prefix (orphan-sweep.ts).
// docs/storage-layout.md has the rules.
import { createRoute, z } from "@hono/zod-openapi";
import {
  createServiceApp,
  jsonContentType,
  jsonResponse,
  parseWith,
  readJson,
} from "../../../shared/app";
import { serviceClient } from "../../../shared/clients";
import {
  COLUMN_TYPES,
  caseCollision,
  caseCollisionMessage,
  columnNameProblem,
  datasetId,
  datasetNameSchema,
  schemaFingerprint,
} from "../../../shared/dataset";
import { LakehouseError } from "../../../shared/errors";
import { encodeKeyPath } from "../../../shared/keys";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { logger } from "../../../shared/log";
import type { Manifest, ManifestObject, SchemaField } from "../../../shared/types";
import type { Catalog } from "./catalog";
import { mirrorTable } from "./r2-data-catalog";
import { mountIcebergRest } from "./rest";
import { STAGING_PREFIX, sweepLakeOrphans, sweepStaging } from "./sweeps";

const { app, api } = createServiceApp<Env>("catalog", "catalog");

/** What a background task needs of a request's or a cron's context. */
type WaitUntil = { waitUntil(promise: Promise<unknown>): void };

function catalog(env: Env): DurableObjectStub<Catalog> {
  return env.CATALOG.get(env.CATALOG.idFromName("catalog"));
}

/**
 * After a committed change: delete what expired snapshots no longer list, and tell the query
 * Worker — neither awaited by the caller (an ingest does not wait for replicas to load; a query
 * reads the catalog's current versions itself, so read-your-writes does not depend on it).
 */
function afterCommit(
  env: Env,
  ctx: WaitUntil,
  requestId: string,
  name: string,
  result: { manifest: Manifest; expired: string[] },
): void {
  ctx.waitUntil(
    (async () => {
      await deleteLakeObjects(env, result.expired);
      await notifyQuery(env, requestId, name, result.manifest);
      await mirrorTable(env, name, catalog(env));
    })(),
  );
}

/** Deletes objects no kept snapshot lists (after the commit that dropped them). Never throws. */
async function deleteLakeObjects(env: Env, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    try {
      await env.LAKE.delete(keys.slice(i, i + 1000));
    } catch (err) {
      logger(env, "catalog").error(
        `deleting ${keys.length} expired object(s) failed: ${(err as Error).message}; keys: ${keys.slice(i, i + 1000).join(", ")}`,
      );
    }
  }
}

/** Tells the query Worker a dataset changed (null = deleted). Never throws. */
export async function notifyQuery(
  env: Env,
  requestId: string,
  name: string,
  manifest: Manifest | null,
): Promise<void> {
  try {
    const res = await serviceClient(
      env as unknown as Record<string, unknown>,
      "query",
      requestId,
    ).fetch("/datasets/changed", {
      method: "POST",
      json: { name, version: manifest?.version ?? null, manifest },
    });
    if (!res.ok)
      logger(env, "catalog").warn(
        `query /sql/datasets/changed for ${name} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`,
      );
    else await res.body?.cancel();
  } catch (err) {
    logger(env, "catalog").warn(
      `query /sql/datasets/changed for ${name} failed: ${(err as Error).message}`,
    );
  }
}

const FieldSchema = z.object({
  name: z
    .string()
    .min(1)
    .superRefine((name, ctx) => {
      const problem = columnNameProblem(name);
      if (problem) ctx.addIssue({ code: "custom", message: `column ${problem}` });
    }),
  type: z.enum(COLUMN_TYPES as [string, ...string[]]),
  nullable: z.boolean().default(false),
});
const ObjectSchema = z.object({
  key: z.string().min(1),
  size: z.number().int().min(0),
  row_count: z.number().int().min(0),
  content_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
const RegisterBody = z.object({
  name: datasetNameSchema("missing dataset name", { creating: true }),
  schema: z.array(FieldSchema).min(1),
  schema_fingerprint: z.string().min(1, { error: "must not be empty" }),
  objects: z.array(ObjectSchema),
  mode: z.enum(["replace", "append"]).default("replace"),
});
const ManifestSchema = z
  .object({
    dataset_id: z.string(),
    name: z.string(),
    schema: z.array(FieldSchema),
    schema_fingerprint: z.string(),
    objects: z.array(ObjectSchema),
    row_count: z.number(),
    version: z.number(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Manifest");
const DatasetSummarySchema = z
  .object({
    dataset_id: z.string(),
    name: z.string(),
    schema_fingerprint: z.string(),
    row_count: z.number(),
    bytes: z.number(),
    version: z.number(),
    updated_at: z.string(),
  })
  .openapi("DatasetSummary");
const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .openapi("CatalogError");

/** The dataset name in the path (`/manifest/{name}`, `/history/{name}`). */
const NameParam = z.object({
  name: datasetNameSchema().openapi({ param: { name: "name", in: "path" } }),
});
const VersionQuery = z.object({
  version: z
    .string()
    .regex(/^0*[1-9]\d*$/, {
      error: (iss) => `expected a positive integer, got ${JSON.stringify(iss.input)}`,
    })
    .optional()
    .openapi({ description: "a version of the dataset (default: the current one)", example: "1" }),
});

api.openapi(
  createRoute({
    method: "post",
    path: "/register",
    summary: "Register a dataset version (idempotent for identical objects; 409 on schema drift)",
    middleware: [jsonContentType],
    request: {
      body: { content: { "application/json": { schema: RegisterBody } }, required: true },
    },
    responses: {
      200: {
        description:
          "the dataset's current manifest; `changed` says whether a new version was made",
        content: {
          "application/json": { schema: ManifestSchema.extend({ changed: z.boolean() }) },
        },
      },
      400: jsonResponse(
        ErrorBody,
        "invalid input (the message names the field), an object missing from storage or of another size, a key not under <[ingestd].prefix><name>/, listed twice, already in the current version (append) or listed by another dataset",
      ),
      409: jsonResponse(
        ErrorBody,
        "schema drift: the dataset is registered with another fingerprint (both named); or the name differs only in case from an existing dataset's (both named)",
      ),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const name = body.name;
    const names = body.schema.map((f) => f.name);
    const pair = caseCollision(names);
    if (pair) {
      const [a, b] = pair;
      if (names[a] === names[b])
        throw new LakehouseError(
          "bad_request",
          `body.schema[${b}].name: duplicate column name ${JSON.stringify(names[b])}`,
        );
      throw new LakehouseError(
        "bad_request",
        `body.schema[${b}].name: ${caseCollisionMessage(names, pair)}`,
      );
    }
    const schema = body.schema as SchemaField[];
    const computed = await schemaFingerprint(schema);
    if (computed !== body.schema_fingerprint) {
      throw new LakehouseError(
        "bad_request",
        `body.schema_fingerprint: ${body.schema_fingerprint} does not match the schema (computed ${computed})`,
      );
    }
    const objects = body.objects as ManifestObject[];
    // Only objects the ingest wrote for this dataset, each once (a forged key of another
    // dataset, deleted later, would delete that dataset's data; a key listed twice loads twice).
    const prefix = `${lakehouseConfig(c.env).ingestd.prefix}${name}/`;
    const keys = new Set<string>();
    for (const [i, o] of objects.entries()) {
      if (!o.key.startsWith(prefix) || o.key.length === prefix.length) {
        throw new LakehouseError(
          "bad_request",
          `body.objects[${i}].key: object ${JSON.stringify(o.key)} is not under ${JSON.stringify(prefix)}, where the ingest writes the objects of dataset ${JSON.stringify(name)}`,
        );
      }
      if (o.key.startsWith(`${prefix}metadata/`)) {
        throw new LakehouseError(
          "bad_request",
          `body.objects[${i}].key: object ${JSON.stringify(o.key)} is under ${JSON.stringify(`${prefix}metadata/`)}, where the catalog keeps the dataset's Iceberg metadata`,
        );
      }
      if (keys.has(o.key))
        throw new LakehouseError(
          "bad_request",
          `body.objects[${i}].key: object ${JSON.stringify(o.key)} is listed twice`,
        );
      keys.add(o.key);
    }
    // No manifest may point at a missing object: every object must exist with its declared size.
    const storage = serviceClient(
      c.env as unknown as Record<string, unknown>,
      "storage",
      c.get("requestId"),
    );
    await Promise.all(
      objects.map(async (o, i) => {
        const res = await storage.fetch(`/objects/${encodeKeyPath(o.key)}`, { method: "HEAD" });
        if (res.status === 404)
          throw new LakehouseError(
            "bad_request",
            `body.objects[${i}].key: object ${JSON.stringify(o.key)} does not exist in storage`,
          );
        if (!res.ok)
          throw new LakehouseError(
            "bad_request",
            `body.objects[${i}].key: object ${JSON.stringify(o.key)} cannot be checked (HTTP ${res.status})`,
          );
        const size = Number(res.headers.get("content-length"));
        if (size !== o.size)
          throw new LakehouseError(
            "bad_request",
            `body.objects[${i}].size: ${o.size} does not match the stored object's ${size} bytes`,
          );
      }),
    );
    const result = await catalog(c.env).register({
      name,
      dataset_id: datasetId(name),
      schema,
      schema_fingerprint: computed,
      objects,
      mode: body.mode,
      now: new Date().toISOString(),
    });
    if ("rejected" in result)
      throw new LakehouseError(result.rejected.code, result.rejected.message);
    if ("conflict" in result) {
      const existing = result.conflict.existing_fingerprint;
      throw new LakehouseError(
        "conflict",
        `schema drift for dataset ${JSON.stringify(name)}: registered fingerprint ${existing}, new fingerprint ${computed} ` +
          `(registered columns ${result.conflict.existing_schema.map((f) => `${f.name}:${f.type}`).join(", ")}; new ${schema.map((f) => `${f.name}:${f.type}`).join(", ")})`,
        { details: { existing_fingerprint: existing, new_fingerprint: computed } },
      );
    }
    if (result.changed) afterCommit(c.env, c.executionCtx, c.get("requestId"), name, result);
    return c.json({ ...result.manifest, changed: result.changed }, 200);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/manifest/{name}",
    summary: "A dataset's manifest: the current version, or ?version=N",
    request: { params: NameParam, query: VersionQuery },
    responses: {
      200: jsonResponse(ManifestSchema, "the manifest"),
      400: jsonResponse(ErrorBody, "invalid name or version"),
      404: jsonResponse(ErrorBody, "no such dataset or version"),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const text = c.req.valid("query").version;
    const version = text === undefined ? undefined : Number(text);
    const manifest = await catalog(c.env).manifest(name, version);
    if (!manifest) {
      throw new LakehouseError(
        "not_found",
        version === undefined
          ? `dataset ${JSON.stringify(name)} not found`
          : `dataset ${JSON.stringify(name)} has no version ${version}`,
      );
    }
    return c.json(manifest, 200);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/history/{name}",
    summary: "A dataset's versions, newest first (at most [catalogd].history_limit)",
    request: { params: NameParam },
    responses: {
      200: jsonResponse(
        z.object({ name: z.string(), dataset_id: z.string(), versions: z.array(ManifestSchema) }),
        "the manifest of each version",
      ),
      400: jsonResponse(ErrorBody, "invalid name"),
      404: jsonResponse(ErrorBody, "no such dataset"),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const versions = await catalog(c.env).history(
      name,
      lakehouseConfig(c.env).catalogd.history_limit,
    );
    if (!versions)
      throw new LakehouseError("not_found", `dataset ${JSON.stringify(name)} not found`);
    return c.json({ name, dataset_id: datasetId(name), versions }, 200);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/list",
    summary: "Every dataset with its current version",
    responses: {
      200: jsonResponse(
        z.object({ datasets: z.array(DatasetSummarySchema) }),
        "the datasets, by name",
      ),
    },
  }),
  async (c) => c.json({ datasets: await catalog(c.env).list() }, 200),
);

api.openapi(
  createRoute({
    method: "delete",
    path: "/manifest/{name}",
    summary: "Delete a dataset, every version, and its objects in storage",
    request: { params: NameParam },
    responses: {
      204: { description: "deleted" },
      400: jsonResponse(ErrorBody, "invalid name"),
      404: jsonResponse(ErrorBody, "no such dataset"),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const removed = await catalog(c.env).remove(name);
    if (!removed)
      throw new LakehouseError("not_found", `dataset ${JSON.stringify(name)} not found`);
    // The catalog no longer points at the objects: remove them (a failure leaves orphans, never a dangling manifest).
    try {
      await serviceClient(
        c.env as unknown as Record<string, unknown>,
        "storage",
        c.get("requestId"),
      ).json("/delete", {
        method: "POST",
        json: { keys: removed.keys },
      });
    } catch (err) {
      logger(c.env, "catalog").error(
        `deleting the objects of ${name} failed: ${(err as Error).message}; keys: ${removed.keys.join(", ")}`,
      );
    }
    await notifyQuery(c.env, c.get("requestId"), name, null);
    c.executionCtx.waitUntil(mirrorTable(c.env, name, catalog(c.env)));
    return c.body(null, 204);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/stats",
    summary:
      "Catalog counts and the bytes of its database (storage grows with files, not with versions × files)",
    responses: {
      200: jsonResponse(
        z
          .object({
            datasets: z.number(),
            versions: z.number(),
            files: z.number(),
            manifests: z.number(),
            database_bytes: z.number(),
          })
          .openapi("CatalogStats"),
        "counts",
      ),
    },
  }),
  async (c) => c.json(await catalog(c.env).stats(), 200),
);

const CompactQuery = z.object({
  force: z.enum(["true", "false"]).optional().openapi({
    description:
      "compact even at or under [catalogd].compact_min_files small files (default true for this route)",
  }),
});
const CompactResult = z
  .object({
    name: z.string(),
    compacted: z.boolean(),
    small_files: z.number().int(),
    version: z.number().int(),
    removed_files: z.number().int().optional(),
    added_files: z.number().int().optional(),
    rows: z.number().int().optional(),
    reason: z.string().optional(),
  })
  .openapi("CompactResult");

api.openapi(
  createRoute({
    method: "post",
    path: "/compact/{name}",
    summary:
      "Rewrite the dataset's small files (fewer rows than [ingestd].row_group_rows) into full row groups, as one new snapshot (operation replace)",
    request: { params: NameParam, query: CompactQuery },
    responses: {
      200: jsonResponse(
        CompactResult,
        "what was done (compacted=false and a reason when there was nothing to do)",
      ),
      400: jsonResponse(ErrorBody, "invalid name"),
      404: jsonResponse(ErrorBody, "no such dataset"),
      409: jsonResponse(
        ErrorBody,
        "the dataset changed while compacting (nothing was changed; retry)",
      ),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const force = c.req.valid("query").force !== "false";
    return c.json(
      await compactDataset(c.env, c.executionCtx, c.get("requestId"), name, force),
      200,
    );
  },
);

/**
 * Compacts `name`: its small files go to the ingest Worker's internal /ingest/compact, which
 * writes their rows (same order) into full row groups; the catalog commits the swap as one
 * snapshot, or deletes the new files when the dataset changed meanwhile. Below the threshold
 * ([catalogd].compact_min_files small files) only a forced call (the route) compacts, and never
 * fewer than two files.
 */
export async function compactDataset(
  env: Env,
  ctx: WaitUntil,
  requestId: string | undefined,
  name: string,
  force: boolean,
): Promise<z.infer<typeof CompactResult>> {
  const config = lakehouseConfig(env);
  const stub = catalog(env);
  const manifest = await stub.manifest(name);
  if (!manifest) throw new LakehouseError("not_found", `dataset ${JSON.stringify(name)} not found`);
  // at most 1000 files per rewrite (the ingest's bound per call); the next run takes the rest
  const small = manifest.objects
    .filter((o) => o.row_count < config.ingestd.row_group_rows)
    .slice(0, 1000);
  const base = { name, small_files: small.length, version: manifest.version };
  if (small.length < 2)
    return { ...base, compacted: false, reason: `${small.length} small file(s): nothing to merge` };
  if (!force && small.length <= config.catalogd.compact_min_files) {
    return {
      ...base,
      compacted: false,
      reason: `${small.length} small files, not more than [catalogd].compact_min_files = ${config.catalogd.compact_min_files}`,
    };
  }
  const ingest = serviceClient(env as unknown as Record<string, unknown>, "ingest", requestId);
  const written = await ingest.json<{ objects: ManifestObject[] }>("/compact", {
    method: "POST",
    json: {
      name,
      schema: manifest.schema,
      objects: small.map(({ key, size, row_count }) => ({ key, size, row_count })),
    },
  });
  let result: Awaited<ReturnType<typeof stub.register>>;
  try {
    result = await stub.register({
      name,
      dataset_id: manifest.dataset_id,
      schema: manifest.schema,
      schema_fingerprint: manifest.schema_fingerprint,
      objects: written.objects,
      mode: "rewrite",
      remove: small.map((o) => o.key),
      now: new Date().toISOString(),
    });
  } catch (err) {
    await deleteLakeObjects(
      env,
      written.objects.map((o) => o.key),
    );
    throw err;
  }
  if ("rejected" in result || "conflict" in result) {
    await deleteLakeObjects(
      env,
      written.objects.map((o) => o.key),
    );
    if ("rejected" in result)
      throw new LakehouseError(result.rejected.code, result.rejected.message);
    throw new LakehouseError(
      "conflict",
      `compaction of ${JSON.stringify(name)}: the schema changed meanwhile; nothing was changed`,
    );
  }
  afterCommit(env, ctx, requestId ?? crypto.randomUUID(), name, result);
  return {
    ...base,
    compacted: true,
    version: result.manifest.version,
    removed_files: small.length,
    added_files: written.objects.length,
    rows: small.reduce((s, o) => s + o.row_count, 0),
  };
}

/** GET /catalog/delta/{name}?from=U&to=V (internal: the query engine's incremental load). */
app.get("/catalog/delta/:name", async (c) => {
  const name = c.req.param("name");
  const from = Number(c.req.query("from"));
  const to = Number(c.req.query("to"));
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < 1) {
    throw new LakehouseError(
      "bad_request",
      `query.from / query.to: expected positive integers, got ${JSON.stringify(c.req.query("from"))} and ${JSON.stringify(c.req.query("to"))}`,
    );
  }
  const delta = await catalog(c.env).delta(name, from, to);
  if (!delta)
    throw new LakehouseError(
      "not_found",
      `dataset ${JSON.stringify(name)} has no versions ${from} and ${to} (deleted, expired or not yet made)`,
    );
  return c.json(delta);
});

mountIcebergRest(app as never, catalog);

// ---- staged uploads: leases and the sweep (internal; not in the OpenAPI document) ----

const StagingKeyBody = z.object({
  key: z.string().startsWith(STAGING_PREFIX, { error: `expected a key under ${STAGING_PREFIX}` }),
  lease_ms: z.number().int().min(1).max(3_600_000).optional(),
});

/** POST /catalog/staging/lease {key, lease_ms?}: records or renews the lease of a staged key. */
app.post("/catalog/staging/lease", async (c) => {
  const body = parseWith(StagingKeyBody, await readJson(c), "body");
  const leaseMs = body.lease_ms ?? lakehouseConfig(c.env).ingestd.staging_lease_s * 1000;
  const expires = await catalog(c.env).lease(body.key, leaseMs);
  return c.json({ key: body.key, expires_at: new Date(expires).toISOString() });
});

/** POST /catalog/staging/release {key}: the ingest is done with its staged key. */
app.post("/catalog/staging/release", async (c) => {
  const body = parseWith(StagingKeyBody, await readJson(c), "body");
  await catalog(c.env).release(body.key);
  return c.body(null, 204);
});

/** POST /catalog/staging/sweep[?pages=N]: deletes staged objects whose ingest is gone. */
app.post("/catalog/staging/sweep", async (c) => {
  const pages = Number(c.req.query("pages") ?? "0");
  return c.json(
    await sweepStaging(
      c.env,
      c.get("requestId"),
      Number.isInteger(pages) && pages > 0 ? pages : Infinity,
    ),
  );
});

/** GET /catalog/staging/leases: the live leases (operators, tests). */
app.get("/catalog/staging/leases", async (c) => c.json({ leases: await catalog(c.env).leases() }));

/**
 * The cron trigger: sweep every abandoned staged upload; compact each dataset past
 * [catalogd].compact_min_files small files; expire snapshots past retention (and give a dataset
 * registered before Iceberg its first snapshot); sweep one bounded slice of orphans under the
 * dataset prefix. One dataset's failure does not stop the others.
 */
export async function scheduled(
  controller: ScheduledController,
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const log = logger(env, "catalog");
  const failures: string[] = [];
  try {
    await sweepStaging(env, undefined, Infinity);
  } catch (err) {
    log.error(`staging sweep (cron ${controller.cron}) failed`, err);
    failures.push("staging sweep");
  }
  await maintainAll(env, ctx, failures);
  try {
    await sweepLakeOrphans(env, controller.scheduledTime);
  } catch (err) {
    log.error(`orphan sweep (cron ${controller.cron}) failed`, err);
    failures.push("orphan sweep");
  }
  if (failures.length) throw new Error(`catalog cron: ${failures.join(", ")} failed (see the log)`);
}

/** Compaction and retention over every dataset (the cron's second half). */
export async function maintainAll(
  env: Env,
  ctx: WaitUntil,
  failures: string[] = [],
): Promise<{ compacted: string[]; expired: number }> {
  const config = lakehouseConfig(env);
  const stub = catalog(env);
  const log = logger(env, "catalog");
  const compacted: string[] = [];
  for (const name of await stub.compactionCandidates(
    config.catalogd.compact_min_files,
    config.ingestd.row_group_rows,
  )) {
    try {
      if ((await compactDataset(env, ctx, undefined, name, false)).compacted) compacted.push(name);
    } catch (err) {
      log.error(`compaction of ${name} failed`, err);
      failures.push(`compaction of ${name}`);
    }
  }
  let expired = 0;
  for (const d of await stub.list()) {
    try {
      const keys = await stub.maintain(d.name);
      expired += keys.length;
      await deleteLakeObjects(env, keys);
      // expired snapshots leave R2 Data Catalog's copy too (when mirrored)
      if (keys.length) ctx.waitUntil(mirrorTable(env, d.name, stub));
    } catch (err) {
      log.error(`retention of ${d.name} failed`, err);
      failures.push(`retention of ${d.name}`);
    }
  }
  return { compacted, expired };
}

/** POST /catalog/maintain (internal; operators and tests): the cron's compaction and retention now. */
app.post("/catalog/maintain", async (c) => c.json(await maintainAll(c.env, c.executionCtx)));

export { Catalog } from "./catalog";
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;

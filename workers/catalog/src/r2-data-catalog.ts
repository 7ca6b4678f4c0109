// Mirroring each dataset's Iceberg table into R2 Data Catalog (deployed, when
// [catalogd].iceberg_catalog = "r2-data-catalog"), so Cloudflare's own tools (R2 SQL, and any engine
// pointed at the bucket's catalog) see the same tables. Our catalog stays the source of truth: the
// table `default.<name>` there is brought in line with ours after every commit (ingest, compaction)
// and dropped after a delete. "local" (the default) does nothing.
//
// An Iceberg REST catalog client, as the REST catalog OpenAPI document (apache/iceberg,
// open-api/rest-catalog-open-api.yaml) defines it, against the catalog URI and warehouse Cloudflare
// shows when the catalog is enabled (https://developers.cloudflare.com/r2-data-catalog/manage-catalogs/),
// authenticated with `Authorization: Bearer <API token>` (R2 Data Catalog write + R2 storage write):
//   GET    {uri}/v1/config?warehouse={warehouse}          → {defaults, overrides}; `prefix` from them
//   GET    {uri}/v1/{prefix}/namespaces/default            404 → POST {uri}/v1/{prefix}/namespaces {"namespace":["default"]}
//   GET    {uri}/v1/{prefix}/namespaces/default/tables/{t} → {"metadata-location","metadata"}; 404 = absent
//   POST   {uri}/v1/{prefix}/namespaces/default/register   {"name", "metadata-location"} (absent table), then
//          one commit that only sets the property lakehouse.registered-from, so the catalog writes metadata
//          of its own instead of pointing at our file (which our retention may delete)
//   POST   {uri}/v1/{prefix}/namespaces/default/tables/{t} {"requirements","updates"} (present table):
//          requirements assert-table-uuid + assert-ref-snapshot-id (main, its current snapshot or null);
//          updates add-snapshot (each of ours it lacks, in sequence order), set-snapshot-ref main → our
//          current snapshot, remove-snapshots (its snapshots we no longer keep). 409 = someone moved
//          main meanwhile: reload both sides and retry once.
//   DELETE {uri}/v1/{prefix}/namespaces/default/tables/{t}?purgeRequested=false (dataset deleted: the
//          files are ours and already gone; never ask R2 Data Catalog to purge them)
// Snapshot ids are our catalog versions (docs/storage-layout.md, "Iceberg tables"), so "which snapshots
// it lacks" is a set difference on ids. A table there with another table-uuid is an older dataset of the
// same name (deleted and re-created while a drop did not reach R2 Data Catalog): dropped and registered
// anew. A table whose history cannot be continued by commits (a snapshot with another manifest list, or a
// commit refused as invalid) is re-registered with `overwrite: true`; if that is refused too, an error
// says what to do by hand. Nothing here throws: failures are logged, and the next commit tries again.
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { logger } from "../../../shared/log";
import type { Catalog } from "./catalog";
import { s3Location } from "./iceberg";
import { NAMESPACE } from "./rest";

/** The catalog Worker's secrets for R2 Data Catalog (`wrangler secret put <NAME> -c workers/catalog/wrangler.toml`). */
export interface R2CatalogSecrets {
  /** the Catalog URI Cloudflare shows, e.g. https://catalog.cloudflarestorage.com/<account id>/<bucket> */
  R2_CATALOG_URI?: string;
  /** an API token with R2 Data Catalog write and R2 storage write on the lake bucket */
  R2_CATALOG_TOKEN?: string;
  /** the warehouse name (`wrangler r2 bucket catalog get <bucket>`), e.g. <account id>_<bucket> */
  R2_CATALOG_WAREHOUSE?: string;
}

/** Each HTTP call is cut at this many ms (or sooner, at the mirror's overall budget). */
export const CALL_TIMEOUT_MS = 10_000;
/** The whole mirror of one table (it runs in waitUntil, which Cloudflare ends ~30 s after the response). */
export const MIRROR_BUDGET_MS = 25_000;

/** The secrets that are not set (names with how to set them); [] when mirroring can run. */
export function r2CatalogMissing(env: R2CatalogSecrets): string[] {
  const missing: string[] = [];
  for (const key of ["R2_CATALOG_URI", "R2_CATALOG_TOKEN", "R2_CATALOG_WAREHOUSE"] as const) {
    if (!env[key]?.trim()) missing.push(key);
  }
  return missing;
}

// ---- The parts of Iceberg table metadata this client reads ----

export interface SnapshotJson {
  "snapshot-id": number;
  "parent-snapshot-id"?: number | null;
  "sequence-number"?: number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: Record<string, string>;
  "schema-id"?: number;
  [key: string]: unknown;
}

export interface TableMetadataView {
  "table-uuid": string;
  "last-sequence-number"?: number;
  "current-snapshot-id"?: number | null;
  snapshots?: SnapshotJson[];
  refs?: Record<string, { "snapshot-id": number; type: string }>;
}

export type TableRequirement =
  | { type: "assert-table-uuid"; uuid: string }
  | { type: "assert-ref-snapshot-id"; ref: string; "snapshot-id": number | null };

export type TableUpdate =
  | { action: "add-snapshot"; snapshot: SnapshotJson }
  | { action: "set-snapshot-ref"; "ref-name": string; type: "branch"; "snapshot-id": number }
  | { action: "remove-snapshot-ref"; "ref-name": string }
  | { action: "remove-snapshots"; "snapshot-ids": number[] }
  | { action: "set-properties"; updates: Record<string, string> };

export interface CommitTableRequest {
  requirements: TableRequirement[];
  updates: TableUpdate[];
}

export type SyncPlan =
  | { action: "none" }
  | {
      action: "commit";
      request: CommitTableRequest;
      added: number[];
      removed: number[];
      main: number | null;
    }
  /** another table of the same name (an older dataset): drop it there, register ours */
  | { action: "recreate"; reason: string }
  /** same table, but a history commits cannot continue: register ours over it */
  | { action: "overwrite"; reason: string };

/** The snapshot a table's `main` branch points at, or null (no ref, or current-snapshot-id -1/null). */
export function mainSnapshot(meta: TableMetadataView): number | null {
  const ref = meta.refs?.main;
  if (ref && typeof ref["snapshot-id"] === "number") return ref["snapshot-id"];
  const current = meta["current-snapshot-id"];
  return typeof current === "number" && current >= 0 ? current : null;
}

/**
 * What brings the remote table (`remote`, as R2 Data Catalog loads it) in line with ours (`ours`, our
 * current metadata JSON). Pure: the unit tests drive it directly.
 */
export function planSync(remote: TableMetadataView, ours: TableMetadataView): SyncPlan {
  if (remote["table-uuid"] !== ours["table-uuid"]) {
    return {
      action: "recreate",
      reason: `it has table-uuid ${remote["table-uuid"]}, ours is ${ours["table-uuid"]}`,
    };
  }
  const theirs = new Map((remote.snapshots ?? []).map((s) => [s["snapshot-id"], s]));
  const mine = new Map((ours.snapshots ?? []).map((s) => [s["snapshot-id"], s]));
  for (const [id, s] of mine) {
    const t = theirs.get(id);
    if (t && t["manifest-list"] !== s["manifest-list"]) {
      return {
        action: "overwrite",
        reason: `its snapshot ${id} lists ${t["manifest-list"]}, ours ${s["manifest-list"]}`,
      };
    }
  }
  const lastSeq =
    remote["last-sequence-number"] ??
    Math.max(0, ...[...theirs.values()].map((s) => s["sequence-number"] ?? 0));
  const seqOf = (s: SnapshotJson) => s["sequence-number"] ?? s["snapshot-id"];
  // Ours that it lacks, newer than anything it has; an older one it lacks was expired there: not re-added.
  const toAdd = [...mine.values()]
    .filter((s) => !theirs.has(s["snapshot-id"]) && seqOf(s) > lastSeq)
    .sort((a, b) => seqOf(a) - seqOf(b));
  const toRemove = [...theirs.keys()].filter((id) => !mine.has(id)).sort((a, b) => a - b);
  const remoteMain = mainSnapshot(remote);
  const ourMain = mainSnapshot(ours);
  if (
    ourMain !== null &&
    !theirs.has(ourMain) &&
    !toAdd.some((s) => s["snapshot-id"] === ourMain)
  ) {
    return {
      action: "overwrite",
      reason: `our current snapshot ${ourMain} is older than its last sequence number ${lastSeq}`,
    };
  }

  const updates: TableUpdate[] = toAdd.map((snapshot) => ({ action: "add-snapshot", snapshot }));
  if (ourMain === null) {
    if (remoteMain !== null) updates.push({ action: "remove-snapshot-ref", "ref-name": "main" });
  } else if (remoteMain !== ourMain) {
    updates.push({
      action: "set-snapshot-ref",
      "ref-name": "main",
      type: "branch",
      "snapshot-id": ourMain,
    });
  }
  if (toRemove.length > 0) updates.push({ action: "remove-snapshots", "snapshot-ids": toRemove });
  if (updates.length === 0) return { action: "none" };
  return {
    action: "commit",
    request: {
      requirements: [
        { type: "assert-table-uuid", uuid: ours["table-uuid"] },
        { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": remoteMain },
      ],
      updates,
    },
    added: toAdd.map((s) => s["snapshot-id"]),
    removed: toRemove,
    main: ourMain,
  };
}

// ---- The REST client ----

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

class RestCatalogClient {
  private prefix = "";

  constructor(
    private readonly uri: string,
    private readonly token: string,
    private readonly deadline: number,
  ) {}

  async call(method: string, path: string, json?: unknown): Promise<Answer> {
    const left = this.deadline - Date.now();
    if (left <= 0)
      throw new Error(
        `gave up before ${method} ${path}: the mirror's ${MIRROR_BUDGET_MS} ms budget is spent`,
      );
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: "application/json",
    };
    if (json !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.uri}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(Math.min(CALL_TIMEOUT_MS, left)),
      });
    } catch (err) {
      throw new Error(`${method} ${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: kept as text for the error message
    }
    return { status: res.status, body };
  }

  /** An error naming the call, the status and the catalog's message (spec shape {"error":{message,type,code}}). */
  fail(what: string, a: Answer): Error {
    const e = a.body?.error;
    const detail =
      e && typeof e === "object"
        ? `${e.type ?? "error"}: ${e.message ?? ""}`
        : String(a.body ?? "").slice(0, 300);
    let hint = "";
    if (a.status === 401 || a.status === 403)
      hint =
        " (check the R2_CATALOG_TOKEN secret: it needs R2 Data Catalog write and R2 storage write on the bucket)";
    return new Error(`${what} answered HTTP ${a.status}${detail ? ` — ${detail}` : ""}${hint}`);
  }

  /** GET /v1/config?warehouse=…: the path prefix (defaults, then overrides, as the spec merges them). */
  async configure(warehouse: string): Promise<void> {
    const a = await this.call("GET", `/v1/config?warehouse=${encodeURIComponent(warehouse)}`);
    if (a.status !== 200 || typeof a.body !== "object" || a.body === null)
      throw this.fail(`GET /v1/config (warehouse ${warehouse})`, a);
    const merged: Record<string, unknown> = {
      ...(a.body.defaults ?? {}),
      ...(a.body.overrides ?? {}),
    };
    const prefix = typeof merged.prefix === "string" ? merged.prefix.replace(/^\/+|\/+$/g, "") : "";
    this.prefix = prefix ? `/${prefix}` : "";
  }

  namespacesPath(): string {
    return `/v1${this.prefix}/namespaces`;
  }

  namespacePath(): string {
    return `${this.namespacesPath()}/${encodeURIComponent(NAMESPACE)}`;
  }

  tablePath(name: string): string {
    return `${this.namespacePath()}/tables/${encodeURIComponent(name)}`;
  }

  async ensureNamespace(): Promise<boolean> {
    const got = await this.call("GET", this.namespacePath());
    if (got.status === 200 || got.status === 204) return false;
    if (got.status !== 404) throw this.fail(`GET namespace ${NAMESPACE}`, got);
    const made = await this.call("POST", this.namespacesPath(), {
      namespace: [NAMESPACE],
      properties: {},
    });
    if (made.status === 200 || made.status === 409) return made.status === 200; // 409: created meanwhile
    throw this.fail(`POST namespace ${NAMESPACE}`, made);
  }

  /** The table's metadata, or null when absent (404: no such table, or no such namespace yet). */
  async loadTable(name: string): Promise<TableMetadataView | null> {
    const a = await this.call("GET", this.tablePath(name));
    if (a.status === 404) return null;
    if (a.status !== 200 || typeof a.body?.metadata !== "object")
      throw this.fail(`GET table ${NAMESPACE}.${name}`, a);
    return a.body.metadata as TableMetadataView;
  }

  async register(name: string, metadataLocation: string, overwrite = false): Promise<Answer> {
    return this.call("POST", `${this.namespacePath()}/register`, {
      name,
      "metadata-location": metadataLocation,
      ...(overwrite ? { overwrite: true } : {}),
    });
  }

  async commit(name: string, request: CommitTableRequest): Promise<Answer> {
    return this.call("POST", this.tablePath(name), request);
  }

  /** Drops the table without purge; false when it was not there. */
  async drop(name: string): Promise<boolean> {
    const a = await this.call("DELETE", `${this.tablePath(name)}?purgeRequested=false`);
    if (a.status === 200 || a.status === 204) return true;
    if (a.status === 404) return false;
    throw this.fail(`DELETE table ${NAMESPACE}.${name}`, a);
  }
}

// ---- The mirror ----

/** Brings R2 Data Catalog's `default.<name>` in line with our table (or drops it when the dataset is gone). Never throws. */
export async function mirrorTable(
  env: Env,
  name: string,
  catalog: DurableObjectStub<Catalog>,
): Promise<void> {
  const log = logger(env, "catalog");
  try {
    if (lakehouseConfig(env).catalogd.iceberg_catalog !== "r2-data-catalog") return;
    const secrets = env as unknown as R2CatalogSecrets;
    const missing = r2CatalogMissing(secrets);
    if (missing.length > 0) {
      log.error(
        `[catalogd].iceberg_catalog = "r2-data-catalog" but the catalog Worker's secret(s) ${missing.join(", ")} are not set: ` +
          `${NAMESPACE}.${name} is not mirrored to R2 Data Catalog (wrangler secret put <NAME> -c workers/catalog/wrangler.toml)`,
      );
      return;
    }
    await mirror(env, name, catalog, secrets as Required<R2CatalogSecrets>);
  } catch (err) {
    log.error(
      `mirroring ${NAMESPACE}.${name} to R2 Data Catalog failed: ${(err as Error).message}`,
    );
  }
}

async function mirror(
  env: Env,
  name: string,
  catalog: DurableObjectStub<Catalog>,
  secrets: Required<R2CatalogSecrets>,
): Promise<void> {
  const log = logger(env, "catalog");
  const bucket = lakehouseConfig(env).catalogd.bucket_name;
  const client = new RestCatalogClient(
    secrets.R2_CATALOG_URI.trim().replace(/\/+$/, ""),
    secrets.R2_CATALOG_TOKEN.trim(),
    Date.now() + MIRROR_BUDGET_MS,
  );
  await client.configure(secrets.R2_CATALOG_WAREHOUSE.trim());
  const label = `${NAMESPACE}.${name}`;

  // Two passes at most: a second one after a conflict (409: main moved, or registered meanwhile) or
  // when our metadata file was superseded between reading its key and reading the file.
  for (let attempt = 1; attempt <= 2; attempt++) {
    // Theirs first, then ours: ours is then at least as new as anything they were given.
    const remote = await client.loadTable(name);
    const table = await catalog.table(name);
    if (!table) {
      if (remote && (await client.drop(name)))
        log.info(`R2 Data Catalog: dropped ${label} (dataset deleted; files not purged there)`);
      return;
    }
    if (!table.metadata_key) {
      log.warn(
        `R2 Data Catalog: ${label} has no Iceberg metadata yet (registered before Iceberg); mirrored at its next commit`,
      );
      return;
    }
    const obj = await env.LAKE.get(table.metadata_key);
    if (!obj) continue; // superseded meanwhile: read again
    const ours = (await obj.json()) as TableMetadataView;
    const location = s3Location(bucket, table.metadata_key);

    if (!remote) {
      if (await client.ensureNamespace())
        log.info(`R2 Data Catalog: created namespace ${NAMESPACE}`);
      const a = await client.register(name, location);
      if (a.status === 200) {
        log.info(`R2 Data Catalog: registered ${label} at ${location}`);
        await detach(client, log, label, name, ours, location);
        return;
      }
      if (a.status === 409) continue; // registered meanwhile: commit onto it
      throw client.fail(`POST register ${label}`, a);
    }

    const plan = planSync(remote, ours);
    if (plan.action === "none") return;
    if (plan.action === "recreate") {
      log.warn(
        `R2 Data Catalog: ${label} is another table (${plan.reason}): dropping it there (no purge) and registering ours`,
      );
      await client.drop(name);
      continue;
    }
    if (plan.action === "overwrite") {
      await overwrite(client, log, label, name, ours, location, plan.reason);
      return;
    }
    const a = await client.commit(name, plan.request);
    if (a.status === 200) {
      log.info(
        `R2 Data Catalog: committed ${label}: main → ${plan.main ?? "none"}` +
          (plan.added.length ? `, added snapshot(s) ${plan.added.join(", ")}` : "") +
          (plan.removed.length ? `, removed snapshot(s) ${plan.removed.join(", ")}` : ""),
      );
      return;
    }
    if (a.status === 409 || a.status === 404) continue; // moved (or dropped) meanwhile: reload both sides
    if (a.status === 400) {
      await overwrite(
        client,
        log,
        label,
        name,
        ours,
        location,
        `the commit was refused: ${client.fail("commit", a).message}`,
      );
      return;
    }
    throw client.fail(`POST commit ${label}`, a);
  }
  log.warn(
    `R2 Data Catalog: ${label} changed under the mirror twice; left for the next commit to bring in line`,
  );
}

async function overwrite(
  client: RestCatalogClient,
  log: ReturnType<typeof logger>,
  label: string,
  name: string,
  ours: TableMetadataView,
  location: string,
  reason: string,
): Promise<void> {
  const a = await client.register(name, location, true);
  if (a.status === 200) {
    log.warn(
      `R2 Data Catalog: ${label} could not be continued by a commit (${reason}); registered ours over it (overwrite) at ${location}`,
    );
    await detach(client, log, label, name, ours, location);
    return;
  }
  throw new Error(
    `${label} there cannot be continued by a commit (${reason}) and registering over it was refused ` +
      `(${client.fail("register overwrite", a).message}); drop that table in R2 Data Catalog without purge ` +
      `(the files are the lakehouse's) and the next commit registers it again`,
  );
}

/** The table property the registration commit sets (where the table was registered from). */
export const REGISTERED_FROM_PROPERTY = "lakehouse.registered-from";

/**
 * Right after a registration the catalog's current metadata *is our file*, which our catalog may
 * delete (the cron's retention rewrites the current version's metadata and deletes the superseded
 * file). One commit that only sets a property makes the catalog write metadata of its own, so it
 * never depends on a file of ours again (later commits write its own files too). A failure is only a
 * warning: the next commit does the same.
 */
async function detach(
  client: RestCatalogClient,
  log: ReturnType<typeof logger>,
  label: string,
  name: string,
  ours: TableMetadataView,
  location: string,
): Promise<void> {
  const a = await client.commit(name, {
    requirements: [
      { type: "assert-table-uuid", uuid: ours["table-uuid"] },
      { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": mainSnapshot(ours) },
    ],
    updates: [{ action: "set-properties", updates: { [REGISTERED_FROM_PROPERTY]: location } }],
  });
  if (a.status !== 200) {
    log.warn(
      `R2 Data Catalog: ${label} still reads our metadata file ${location} (${client.fail("the commit after registering", a).message}); its next commit moves it off`,
    );
  }
}

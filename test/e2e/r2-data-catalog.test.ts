// Mirroring every snapshot to R2 Data Catalog (issue #13): with [catalogd].iceberg_catalog =
// "r2-data-catalog", the catalog Worker commits each dataset's table to the catalog at R2_CATALOG_URI.
// R2 Data Catalog cannot run here, so a Node HTTP server on 127.0.0.1 speaks just enough of the Iceberg
// REST catalog protocol (apache/iceberg open-api/rest-catalog-open-api.yaml), in memory: config (with a
// `prefix` override, as a hosted catalog answers), namespaces, register (it reads the registered
// metadata file through our public storage API, as R2 Data Catalog reads it from the bucket), load,
// commit (assert-table-uuid / assert-ref-snapshot-id checked; add-snapshot, set-snapshot-ref,
// remove-snapshots, remove-snapshot-ref, set-properties applied; anything else → 400) and drop. It records every request.
//
// The system runs with retain_versions = 2 (retain_days = 0), so the third version expires the first and
// the mirror must remove that snapshot there too. The first commit is answered 409 once (a conflict, as
// when another writer moved main): the mirror must reload and retry. The mirror runs in waitUntil after
// each response, so the test polls the server's record. The LH_* vars and R2_CATALOG_* secrets reach the
// catalog Worker through the harness's `workerVars` (the process environment of `wrangler dev`).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody, type System, startSystem } from "./harness";

const TOKEN = "r2-catalog-test-token";
const WAREHOUSE = "0123456789abcdef_lakehouse-lake";
const PREFIX = "0123456789abcdef_lakehouse-lake-prefix";
const BUCKET = "lakehouse-lake"; // [catalogd].bucket_name

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: any;
  status?: number;
}

interface RemoteTable {
  location: string;
  metadata: any;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | null | false,
  ms = 15_000,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mainOf = (m: any): number | null => m.refs?.main?.["snapshot-id"] ?? null;
const idsOf = (m: any): number[] =>
  (m.snapshots ?? []).map((s: any) => s["snapshot-id"]).sort((a: number, b: number) => a - b);

describe("mirroring to R2 Data Catalog (a REST catalog test server)", () => {
  let sys: System;
  let server: Server;
  const seen: Recorded[] = [];
  const namespaces = new Set<string>();
  const tables = new Map<string, RemoteTable>();
  let conflictsToInject = 0;
  let metadataFiles = 0;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const text = await readBody(req);
      let body: any = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // recorded as text
      }
      const rec: Recorded = {
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization,
        body,
      };
      seen.push(rec);
      const reply = (status: number, json?: unknown) => {
        rec.status = status;
        res.writeHead(status, json === undefined ? {} : { "content-type": "application/json" });
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      const error = (status: number, type: string, message: string) =>
        reply(status, { error: { message, type, code: status } });
      if (req.headers.authorization !== `Bearer ${TOKEN}`)
        return error(401, "NotAuthorizedException", "bad token");

      if (req.method === "GET" && url.pathname === "/v1/config") {
        if (url.searchParams.get("warehouse") !== WAREHOUSE)
          return error(404, "NoSuchWarehouseException", "no such warehouse");
        return reply(200, {
          defaults: { prefix: "wrong-if-overrides-are-ignored" },
          overrides: { prefix: PREFIX },
        });
      }
      const base = `/v1/${PREFIX}/namespaces`;
      if (!url.pathname.startsWith(base))
        return error(404, "NotFoundException", `no route ${url.pathname}`);
      const rest = url.pathname.slice(base.length).split("/").map(decodeURIComponent); // ["", ns, "tables", t] …
      if (rest.length === 1) {
        if (req.method !== "POST") return error(405, "UnsupportedOperationException", "no");
        const ns = (body?.namespace ?? []).join("\x1f");
        if (namespaces.has(ns))
          return error(409, "AlreadyExistsException", `Namespace already exists: ${ns}`);
        namespaces.add(ns);
        return reply(200, { namespace: body.namespace, properties: body.properties ?? {} });
      }
      const ns = rest[1]!;
      if (!namespaces.has(ns))
        return error(404, "NoSuchNamespaceException", `Namespace does not exist: ${ns}`);
      if (rest.length === 2)
        return req.method === "GET"
          ? reply(200, { namespace: ns.split("\x1f"), properties: {} })
          : error(405, "UnsupportedOperationException", "no");
      const key = (name: string) => `${ns}.${name}`;

      if (rest.length === 3 && rest[2] === "register" && req.method === "POST") {
        const name = body?.name;
        const location = body?.["metadata-location"];
        if (typeof name !== "string" || typeof location !== "string")
          return error(400, "BadRequestException", "name and metadata-location are required");
        if (tables.has(key(name)) && !body.overwrite)
          return error(409, "AlreadyExistsException", `Table already exists: ${key(name)}`);
        // R2 Data Catalog reads the metadata file from the bucket: here, through our public storage API
        if (!location.startsWith(`s3://${BUCKET}/`))
          return error(400, "BadRequestException", `not in bucket ${BUCKET}: ${location}`);
        const file = await sys.fetch(
          `/v1/storage/objects/${location.slice(`s3://${BUCKET}/`.length)}`,
        );
        if (!file.ok)
          return error(400, "BadRequestException", `cannot read ${location}: HTTP ${file.status}`);
        const metadata = await file.json();
        tables.set(key(name), { location, metadata });
        return reply(200, { "metadata-location": location, metadata, config: {} });
      }
      if (rest.length !== 4 || rest[2] !== "tables")
        return error(404, "NotFoundException", `no route ${url.pathname}`);
      const name = rest[3]!;
      const table = tables.get(key(name));
      if (!table) return error(404, "NoSuchTableException", `Table does not exist: ${key(name)}`);
      if (req.method === "GET")
        return reply(200, {
          "metadata-location": table.location,
          metadata: table.metadata,
          config: {},
        });
      if (req.method === "DELETE") {
        tables.delete(key(name));
        return reply(204);
      }
      if (req.method !== "POST") return error(405, "UnsupportedOperationException", "no");

      // commit: requirements, then updates on a copy; nothing applied unless all succeed
      if (conflictsToInject > 0) {
        conflictsToInject--;
        return error(409, "CommitFailedException", "injected conflict");
      }
      const m = structuredClone(table.metadata);
      for (const r of body?.requirements ?? []) {
        if (r.type === "assert-table-uuid") {
          if (r.uuid !== m["table-uuid"])
            return error(409, "CommitFailedException", `table uuid ${m["table-uuid"]} ≠ ${r.uuid}`);
        } else if (r.type === "assert-ref-snapshot-id") {
          const cur = m.refs?.[r.ref]?.["snapshot-id"] ?? null;
          if (cur !== r["snapshot-id"])
            return error(
              409,
              "CommitFailedException",
              `ref ${r.ref} is at ${cur}, not ${r["snapshot-id"]}`,
            );
        } else return error(400, "BadRequestException", `unknown requirement ${r.type}`);
      }
      for (const u of body?.updates ?? []) {
        if (u.action === "add-snapshot") {
          const s = u.snapshot;
          if (m.snapshots.some((x: any) => x["snapshot-id"] === s["snapshot-id"]))
            return error(400, "BadRequestException", `snapshot ${s["snapshot-id"]} exists`);
          if (s["sequence-number"] <= m["last-sequence-number"])
            return error(
              400,
              "BadRequestException",
              `sequence number ${s["sequence-number"]} ≤ ${m["last-sequence-number"]}`,
            );
          m.snapshots.push(s);
          m["last-sequence-number"] = s["sequence-number"];
        } else if (u.action === "set-snapshot-ref") {
          if (!m.snapshots.some((x: any) => x["snapshot-id"] === u["snapshot-id"]))
            return error(400, "BadRequestException", `no snapshot ${u["snapshot-id"]}`);
          m.refs = {
            ...m.refs,
            [u["ref-name"]]: { "snapshot-id": u["snapshot-id"], type: u.type },
          };
          if (u["ref-name"] === "main") m["current-snapshot-id"] = u["snapshot-id"];
        } else if (u.action === "remove-snapshot-ref") {
          delete m.refs[u["ref-name"]];
          if (u["ref-name"] === "main") m["current-snapshot-id"] = -1;
        } else if (u.action === "set-properties") {
          m.properties = { ...m.properties, ...u.updates };
        } else if (u.action === "remove-snapshots") {
          const gone = new Set<number>(u["snapshot-ids"]);
          m.snapshots = m.snapshots.filter((x: any) => !gone.has(x["snapshot-id"]));
          for (const [ref, v] of Object.entries<any>(m.refs ?? {}))
            if (gone.has(v["snapshot-id"])) delete m.refs[ref];
        } else return error(400, "BadRequestException", `unknown update ${u.action}`);
      }
      table.metadata = m;
      table.location = `s3://${BUCKET}/datasets/${name}/metadata/99${String(++metadataFiles).padStart(3, "0")}-mirror.metadata.json`;
      return reply(200, { "metadata-location": table.location, metadata: m });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sys = await startSystem({
      vars: { AUTH_TOKEN: "t" },
      workerVars: {
        LH_CATALOGD_ICEBERG_CATALOG: "r2-data-catalog",
        LH_CATALOGD_RETAIN_VERSIONS: "2",
        LH_CATALOGD_RETAIN_DAYS: "0",
        R2_CATALOG_URI: url,
        R2_CATALOG_TOKEN: TOKEN,
        R2_CATALOG_WAREHOUSE: WAREHOUSE,
      },
    });
  });

  afterAll(async () => {
    await sys?.stop();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  const ingest = async (csv: string, mode?: "append") => {
    const res = await sys.json(`/v1/ingest?name=t${mode ? `&mode=${mode}` : ""}`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.version as number;
  };
  const ourTable = async () => {
    const res = await sys.json("/v1/iceberg/v1/namespaces/default/tables/t");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { "metadata-location": string; metadata: any };
  };
  const commits = () =>
    seen.filter(
      (r) => r.method === "POST" && r.path === `/v1/${PREFIX}/namespaces/default/tables/t`,
    );

  it("registers the table, commits each snapshot, removes expired ones, and drops it on delete", {
    timeout: 120_000,
  }, async () => {
    // 1. first ingest → namespace created, table registered at our metadata location
    const v1 = await ingest("id,name\n1,a\n2,b\n");
    const register = await until("the registration", () =>
      seen.find((r) => r.path.endsWith("/register") && r.status !== undefined),
    );
    expect(register.status, JSON.stringify(register.body)).toBe(200);
    const ours1 = await ourTable();
    expect(register.body).toEqual({ name: "t", "metadata-location": ours1["metadata-location"] });
    expect(ours1["metadata-location"]).toMatch(new RegExp(`^s3://${BUCKET}/datasets/t/metadata/`));
    expect(mainOf(tables.get("default.t")!.metadata)).toBe(v1);
    // then one commit that only sets a property: the catalog writes metadata of its own, so it never
    // depends on our file (which our retention may delete)
    const detach = await until("the commit after registering", () =>
      commits().find((c) => c.status !== undefined),
    );
    expect(detach.status).toBe(200);
    expect(detach.body).toEqual({
      requirements: [
        { type: "assert-table-uuid", uuid: ours1.metadata["table-uuid"] },
        { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": v1 },
      ],
      updates: [
        {
          action: "set-properties",
          updates: { "lakehouse.registered-from": ours1["metadata-location"] },
        },
      ],
    });
    expect(tables.get("default.t")!.location).not.toBe(ours1["metadata-location"]);

    // every request carried the token; config asked for the warehouse; paths used the override prefix
    expect(seen.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const config = seen.find((r) => r.path === "/v1/config")!;
    expect(config.query.get("warehouse")).toBe(WAREHOUSE);
    const nsCreate = seen.find((r) => r.method === "POST" && r.path === `/v1/${PREFIX}/namespaces`);
    expect(nsCreate?.body).toEqual({ namespace: ["default"], properties: {} });
    expect(nsCreate?.status).toBe(200);
    expect(namespaces.has("default")).toBe(true);
    expect(seen.some((r) => r.path.includes("wrong-if-overrides-are-ignored"))).toBe(false);

    // 2. append → one commit (answered 409 once: the mirror reloads and retries)
    conflictsToInject = 1;
    const v2 = await ingest("id,name\n3,c\n", "append");
    expect(v2).toBeGreaterThan(v1);
    await until("the commit of v2", () => mainOf(tables.get("default.t")!.metadata) === v2);
    const c2 = commits().slice(1);
    expect(c2.map((c) => c.status)).toEqual([409, 200]);
    const ok2 = c2[1]!.body;
    expect(ok2.requirements).toEqual([
      { type: "assert-table-uuid", uuid: ours1.metadata["table-uuid"] },
      { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": v1 },
    ]);
    expect(ok2.updates.map((u: any) => u.action)).toEqual(["add-snapshot", "set-snapshot-ref"]);
    expect(ok2.updates[0].snapshot["snapshot-id"]).toBe(v2);
    expect(ok2.updates[0].snapshot["parent-snapshot-id"]).toBe(v1);
    expect(ok2.updates[1]).toEqual({
      action: "set-snapshot-ref",
      "ref-name": "main",
      type: "branch",
      "snapshot-id": v2,
    });
    const ours2 = await ourTable();
    expect(ok2.updates[0].snapshot).toEqual(
      ours2.metadata.snapshots.find((s: any) => s["snapshot-id"] === v2),
    );
    expect(idsOf(tables.get("default.t")!.metadata)).toEqual(idsOf(ours2.metadata));

    // 3. append again → v1 expires here (retain_versions = 2), so it is removed there too
    const v3 = await ingest("id,name\n4,d\n", "append");
    await until("the commit of v3", () => mainOf(tables.get("default.t")!.metadata) === v3);
    const ours3 = await ourTable();
    expect(mainOf(ours3.metadata)).toBe(v3);
    expect(idsOf(ours3.metadata)).not.toContain(v1);
    const c3 = commits().at(-1)!;
    expect(c3.status).toBe(200);
    expect(c3.body.requirements[1]).toEqual({
      type: "assert-ref-snapshot-id",
      ref: "main",
      "snapshot-id": v2,
    });
    expect(c3.body.updates).toEqual([
      {
        action: "add-snapshot",
        snapshot: ours3.metadata.snapshots.find((s: any) => s["snapshot-id"] === v3),
      },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": v3 },
      { action: "remove-snapshots", "snapshot-ids": [v1] },
    ]);
    const remote = tables.get("default.t")!.metadata;
    expect(idsOf(remote)).toEqual(idsOf(ours3.metadata));
    expect(remote["current-snapshot-id"]).toBe(v3);
    // only the one registration; every commit but the injected conflict succeeded
    expect(seen.filter((r) => r.path.endsWith("/register"))).toHaveLength(1);
    expect(commits().map((c) => c.status)).toEqual([200, 409, 200, 200]);

    // 4. delete → dropped there, without purge
    const del = await sys.fetch("/v1/catalog/manifest/t", { method: "DELETE" });
    expect(del.status).toBe(204);
    const drop = await until("the drop", () => seen.find((r) => r.method === "DELETE"));
    expect(drop.path).toBe(`/v1/${PREFIX}/namespaces/default/tables/t`);
    expect(drop.query.get("purgeRequested")).toBe("false");
    await until("the drop's answer", () => drop.status !== undefined);
    expect(drop.status).toBe(204);
    expect(tables.has("default.t")).toBe(false);
  });
});

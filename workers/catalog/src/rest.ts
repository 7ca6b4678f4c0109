// The Iceberg REST Catalog protocol, read side, over the catalog's datasets (DESIGN §6 "Iceberg
// REST catalog"): a client's catalog URI is `<gateway>/v1/iceberg`, so the paths below are the
// spec's `/v1/...` under `/iceberg`. Every dataset is table `default.<name>`. Commits happen only
// through our ingest (and compaction): the protocol's write routes are not served, and the gateway
// forwards only GET/HEAD here. Errors use the spec's shape: {"error": {"message", "type", "code"}}.
import type { Hono } from "hono";
import type { AppEnv } from "../../../shared/app";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { Catalog } from "./catalog";
import { s3Location } from "./iceberg";

export const NAMESPACE = "default";

function icebergError(status: number, type: string, message: string): Response {
  return new Response(JSON.stringify({ error: { message, type, code: status } }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A namespace path parameter: levels joined by the unit separator (0x1F), percent-decoded once by the router. */
function namespaceOf(raw: string): string[] {
  return raw.split("\x1f");
}

export function mountIcebergRest(
  app: Hono<AppEnv<Env>>,
  catalog: (env: Env) => DurableObjectStub<Catalog>,
): void {
  const known = (ns: string[]) => ns.length === 1 && ns[0] === NAMESPACE;
  const noNamespace = (ns: string[]) =>
    icebergError(
      404,
      "NoSuchNamespaceException",
      `Namespace does not exist: ${ns.join(".")} (datasets live in namespace "${NAMESPACE}")`,
    );

  app.get("/iceberg/v1/config", (c) =>
    c.json({
      defaults: {},
      overrides: {},
      endpoints: [
        "GET /v1/namespaces",
        "GET /v1/namespaces/{namespace}",
        "HEAD /v1/namespaces/{namespace}",
        "GET /v1/namespaces/{namespace}/tables",
        "GET /v1/namespaces/{namespace}/tables/{table}",
        "HEAD /v1/namespaces/{namespace}/tables/{table}",
      ],
    }),
  );

  app.get("/iceberg/v1/namespaces", (c) => {
    const parent = c.req.query("parent");
    // one level: `default` has no children
    return c.json({ namespaces: parent ? [] : [[NAMESPACE]] });
  });

  app.on(["GET", "HEAD"], "/iceberg/v1/namespaces/:namespace", (c) => {
    const ns = namespaceOf(c.req.param("namespace"));
    if (!known(ns))
      return c.req.method === "HEAD" ? new Response(null, { status: 404 }) : noNamespace(ns);
    if (c.req.method === "HEAD") return new Response(null, { status: 204 });
    return c.json({
      namespace: ns,
      properties: { comment: "every lakehouse dataset, one table each" },
    });
  });

  app.get("/iceberg/v1/namespaces/:namespace/tables", async (c) => {
    const ns = namespaceOf(c.req.param("namespace"));
    if (!known(ns)) return noNamespace(ns);
    const names = (await catalog(c.env).list()).map((d) => d.name);
    // pagination as the spec words it: pageToken is the last name of the previous page
    const token = c.req.query("pageToken");
    const size = Number(c.req.query("pageSize") ?? "0");
    let page = token ? names.filter((n) => n > token) : names;
    let next: string | undefined;
    if (Number.isInteger(size) && size > 0 && page.length > size) {
      page = page.slice(0, size);
      next = page.at(-1);
    }
    return c.json({
      identifiers: page.map((name) => ({ namespace: [NAMESPACE], name })),
      ...(next ? { "next-page-token": next } : {}),
    });
  });

  app.on(["GET", "HEAD"], "/iceberg/v1/namespaces/:namespace/tables/:table", async (c) => {
    const ns = namespaceOf(c.req.param("namespace"));
    const name = c.req.param("table");
    const head = c.req.method === "HEAD";
    if (!known(ns)) return head ? new Response(null, { status: 404 }) : noNamespace(ns);
    const stub = catalog(c.env);
    let table = await stub.table(name);
    if (!table)
      return head
        ? new Response(null, { status: 404 })
        : icebergError(404, "NoSuchTableException", `Table does not exist: ${NAMESPACE}.${name}`);
    if (head) return new Response(null, { status: 204 });
    if (!table.metadata_key) {
      // registered before the lake was Iceberg: give it its first snapshot now
      await stub.maintain(name);
      table = await stub.table(name);
    }
    const key = table?.metadata_key;
    const obj = key ? await c.env.LAKE.get(key) : null;
    if (!key || !obj)
      return icebergError(
        503,
        "ServiceUnavailableException",
        `the metadata of ${NAMESPACE}.${name} is not readable right now; retry`,
      );
    const metadata = await obj.json();
    const bucket = lakehouseConfig(c.env).catalogd.bucket_name;
    return c.json({ "metadata-location": s3Location(bucket, key), metadata, config: {} });
  });

  // Anything else under the protocol: the spec's error shape.
  app.all("/iceberg/v1/*", (c) =>
    icebergError(
      c.req.method === "GET" || c.req.method === "HEAD" ? 404 : 405,
      c.req.method === "GET" || c.req.method === "HEAD"
        ? "NotFoundException"
        : "UnsupportedOperationException",
      c.req.method === "GET" || c.req.method === "HEAD"
        ? `no Iceberg REST route for ${c.req.method} ${new URL(c.req.url).pathname}`
        : `${c.req.method} ${new URL(c.req.url).pathname}: this catalog is read-only; tables change only through the lakehouse's ingest (POST /v1/ingest)`,
    ),
  );
}

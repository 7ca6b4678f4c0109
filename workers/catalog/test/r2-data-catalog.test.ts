// The R2 Data Catalog mirror's decisions, inside workerd: planSync (pure: what commit brings the
// remote table in line with ours) and mirrorTable against a scripted fetch — the paths it takes that
// the end-to-end test (test/e2e/r2-data-catalog.test.ts) does not reach: not configured, a missing
// secret, another table of the same name, a refused commit, a network failure, a dataset already gone;
// and the commit right after a registration that makes the catalog write metadata of its own.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Catalog } from "../src/catalog";
import {
  mirrorTable,
  planSync,
  r2CatalogMissing,
  type SnapshotJson,
  type TableMetadataView,
} from "../src/r2-data-catalog";

const UUID = "6f1c9d0e-3c1a-4a55-9a43-0d5cf8e0a001";

function snap(id: number, parent: number | null = id > 1 ? id - 1 : null): SnapshotJson {
  return {
    "snapshot-id": id,
    ...(parent === null ? {} : { "parent-snapshot-id": parent }),
    "sequence-number": id,
    "timestamp-ms": 1_700_000_000_000 + id,
    "manifest-list": `s3://lakehouse-lake/datasets/t/metadata/snap-${id}-x.avro`,
    summary: { operation: "append" },
    "schema-id": 0,
  };
}

function meta(
  ids: number[],
  main: number | null,
  uuid = UUID,
  lastSeq = Math.max(0, ...ids),
): TableMetadataView {
  return {
    "table-uuid": uuid,
    "last-sequence-number": lastSeq,
    "current-snapshot-id": main ?? -1,
    snapshots: ids.map((id) => snap(id)),
    refs: main === null ? {} : { main: { "snapshot-id": main, type: "branch" } },
  };
}

describe("planSync", () => {
  it("nothing to do when the snapshots and main agree", () => {
    expect(planSync(meta([1, 2], 2), meta([1, 2], 2))).toEqual({ action: "none" });
  });

  it("adds the snapshots it lacks in order, moves main, asserts uuid and its current main", () => {
    const plan = planSync(meta([1], 1), meta([1, 2, 3], 3));
    expect(plan).toEqual({
      action: "commit",
      request: {
        requirements: [
          { type: "assert-table-uuid", uuid: UUID },
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 1 },
        ],
        updates: [
          { action: "add-snapshot", snapshot: snap(2) },
          { action: "add-snapshot", snapshot: snap(3) },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 3 },
        ],
      },
      added: [2, 3],
      removed: [],
      main: 3,
    });
  });

  it("removes the snapshots we expired; does not re-add one it expired itself", () => {
    // ours kept 2..4; it has 1 and 3 (it expired 2 on its own), main at 3
    const plan = planSync(meta([1, 3], 3), meta([2, 3, 4], 4));
    expect(plan.action).toBe("commit");
    if (plan.action !== "commit") return;
    expect(plan.request.updates).toEqual([
      { action: "add-snapshot", snapshot: snap(4) },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 4 },
      { action: "remove-snapshots", "snapshot-ids": [1] },
    ]);
  });

  it("only removes when nothing new was committed (an expiry by the cron)", () => {
    const plan = planSync(meta([1, 2, 3], 3), meta([2, 3], 3));
    expect(plan.action === "commit" && plan.request.updates).toEqual([
      { action: "remove-snapshots", "snapshot-ids": [1] },
    ]);
  });

  it("asserts main is absent (null) on a table without snapshots", () => {
    const plan = planSync(meta([], null), meta([1], 1));
    expect(plan.action === "commit" && plan.request.requirements[1]).toEqual({
      type: "assert-ref-snapshot-id",
      ref: "main",
      "snapshot-id": null,
    });
  });

  it("removes main when ours has no snapshot", () => {
    const plan = planSync(meta([1], 1), meta([], null));
    expect(plan.action === "commit" && plan.request.updates).toEqual([
      { action: "remove-snapshot-ref", "ref-name": "main" },
      { action: "remove-snapshots", "snapshot-ids": [1] },
    ]);
  });

  it("another table-uuid is another table: recreate", () => {
    expect(
      planSync(meta([1], 1, "00000000-0000-4000-8000-000000000000"), meta([1], 1)).action,
    ).toBe("recreate");
  });

  it("a shared snapshot id with another manifest list, or ours behind its sequence numbers: overwrite", () => {
    const remote = meta([1], 1);
    remote.snapshots![0]!["manifest-list"] = "s3://lakehouse-lake/elsewhere.avro";
    expect(planSync(remote, meta([1, 2], 2)).action).toBe("overwrite");
    // it committed something of its own (sequence 9): our snapshot 2 cannot follow it
    expect(planSync(meta([1], 1, UUID, 9), meta([1, 2], 2)).action).toBe("overwrite");
  });
});

describe("r2CatalogMissing", () => {
  it("names every secret that is unset or blank", () => {
    expect(r2CatalogMissing({})).toEqual([
      "R2_CATALOG_URI",
      "R2_CATALOG_TOKEN",
      "R2_CATALOG_WAREHOUSE",
    ]);
    expect(
      r2CatalogMissing({
        R2_CATALOG_URI: "https://c",
        R2_CATALOG_TOKEN: " ",
        R2_CATALOG_WAREHOUSE: "w",
      }),
    ).toEqual(["R2_CATALOG_TOKEN"]);
    expect(
      r2CatalogMissing({
        R2_CATALOG_URI: "https://c",
        R2_CATALOG_TOKEN: "t",
        R2_CATALOG_WAREHOUSE: "w",
      }),
    ).toEqual([]);
  });
});

// ---- mirrorTable against a scripted catalog ----

type Step = {
  method: string;
  path: string;
  status: number;
  json?: unknown;
  check?: (body: any) => void;
};
const URI = "https://catalog.example.test/acct/lakehouse-lake";
const P = "/v1/pfx/namespaces";

function script(steps: Step[]) {
  const calls: { method: string; path: string; body: any; auth: string | null }[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    calls.push({
      method,
      path: url.pathname.slice("/acct/lakehouse-lake".length) + url.search,
      body,
      auth: new Headers(init?.headers).get("authorization"),
    });
    const step = steps.shift();
    if (!step) throw new Error(`unexpected ${method} ${url.pathname}${url.search}`);
    expect(`${method} ${calls.at(-1)!.path}`).toBe(`${step.method} ${step.path}`);
    step.check?.(body);
    return new Response(step.json === undefined ? null : JSON.stringify(step.json), {
      status: step.status,
      headers: { "content-type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, left: steps };
}

const CONFIG: Step = {
  method: "GET",
  path: "/v1/config?warehouse=acct_lakehouse-lake",
  status: 200,
  json: { defaults: {}, overrides: { prefix: "pfx" } },
};
const OURS_KEY = "datasets/t/metadata/00002-abc.metadata.json";

function fakeEnv(
  extra: Record<string, string | undefined>,
  ours: TableMetadataView = meta([1, 2], 2),
): Env {
  const lake = {
    get: async (key: string) => (key === OURS_KEY ? { json: async () => ours } : null),
  };
  const vars: Record<string, string | undefined> = {
    LH_CATALOGD_ICEBERG_CATALOG: "r2-data-catalog",
    R2_CATALOG_URI: URI,
    R2_CATALOG_TOKEN: "tok",
    R2_CATALOG_WAREHOUSE: "acct_lakehouse-lake",
    ...extra,
  };
  const set = Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== undefined));
  return { ...set, LAKE: lake } as unknown as Env;
}

function stub(
  table: { metadata_key: string | null; version: number; table_uuid: string | null } | null,
): DurableObjectStub<Catalog> {
  return { table: async () => table } as unknown as DurableObjectStub<Catalog>;
}
const OURS = stub({ metadata_key: OURS_KEY, version: 2, table_uuid: UUID });

describe("mirrorTable", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it('does nothing with iceberg_catalog = "local"', async () => {
    const s = script([]);
    await mirrorTable(fakeEnv({ LH_CATALOGD_ICEBERG_CATALOG: undefined }), "t", OURS);
    expect(s.calls).toEqual([]);
  });

  it("logs an error naming a missing secret, and calls nothing", async () => {
    const s = script([]);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await mirrorTable(fakeEnv({ R2_CATALOG_WAREHOUSE: undefined }), "t", OURS);
    expect(s.calls).toEqual([]);
    expect(errors.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/R2_CATALOG_WAREHOUSE/);
  });

  it("an older table of the same name there (another uuid) is dropped without purge, then ours registered", async () => {
    const s = script([
      CONFIG,
      {
        method: "GET",
        path: `${P}/default/tables/t`,
        status: 200,
        json: {
          "metadata-location": "s3://x",
          metadata: meta([7], 7, "00000000-0000-4000-8000-000000000000"),
        },
      },
      { method: "DELETE", path: `${P}/default/tables/t?purgeRequested=false`, status: 204 },
      {
        method: "GET",
        path: `${P}/default/tables/t`,
        status: 404,
        json: { error: { message: "no", type: "NoSuchTableException", code: 404 } },
      },
      {
        method: "GET",
        path: `${P}/default`,
        status: 200,
        json: { namespace: ["default"], properties: {} },
      },
      {
        method: "POST",
        path: `${P}/default/register`,
        status: 200,
        json: { "metadata-location": "s3://y", metadata: {} },
        check: (b) =>
          expect(b).toEqual({ name: "t", "metadata-location": `s3://lakehouse-lake/${OURS_KEY}` }),
      },
      {
        method: "POST",
        path: `${P}/default/tables/t`,
        status: 200,
        json: { "metadata-location": "s3://z", metadata: {} },
        check: (b) =>
          expect(b).toEqual({
            requirements: [
              { type: "assert-table-uuid", uuid: UUID },
              { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 2 },
            ],
            updates: [
              {
                action: "set-properties",
                updates: { "lakehouse.registered-from": `s3://lakehouse-lake/${OURS_KEY}` },
              },
            ],
          }),
      },
    ]);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    await mirrorTable(fakeEnv({}), "t", OURS);
    expect(errors).not.toHaveBeenCalled();
    expect(s.left).toEqual([]);
    expect(s.calls.every((c) => c.auth === "Bearer tok")).toBe(true);
  });

  it("a commit refused as invalid (400) registers ours over it (overwrite); a failed detach commit is only a warning", async () => {
    const s = script([
      CONFIG,
      {
        method: "GET",
        path: `${P}/default/tables/t`,
        status: 200,
        json: { "metadata-location": "s3://x", metadata: meta([1], 1) },
      },
      {
        method: "POST",
        path: `${P}/default/tables/t`,
        status: 400,
        json: { error: { message: "bad", type: "BadRequestException", code: 400 } },
      },
      {
        method: "POST",
        path: `${P}/default/register`,
        status: 200,
        json: { "metadata-location": "s3://y", metadata: {} },
        check: (b) =>
          expect(b).toEqual({
            name: "t",
            "metadata-location": `s3://lakehouse-lake/${OURS_KEY}`,
            overwrite: true,
          }),
      },
      {
        method: "POST",
        path: `${P}/default/tables/t`,
        status: 409,
        json: { error: { message: "moved", type: "CommitFailedException", code: 409 } },
        check: (b) =>
          expect(b).toEqual({
            requirements: [
              { type: "assert-table-uuid", uuid: UUID },
              { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 2 },
            ],
            updates: [
              {
                action: "set-properties",
                updates: { "lakehouse.registered-from": `s3://lakehouse-lake/${OURS_KEY}` },
              },
            ],
          }),
      },
    ]);
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await mirrorTable(fakeEnv({}), "t", OURS);
    expect(errors).not.toHaveBeenCalled();
    expect(s.left).toEqual([]);
  });

  it("never throws: a network failure or an auth error is logged", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => {
        throw new TypeError("connection refused");
      }),
    );
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await expect(mirrorTable(fakeEnv({}), "t", OURS)).resolves.toBeUndefined();
    expect(String(errors.mock.calls[0]?.[0])).toMatch(/connection refused/);

    script([
      {
        ...CONFIG,
        status: 403,
        json: { error: { message: "Forbidden", type: "ForbiddenException", code: 403 } },
      },
    ]);
    await expect(mirrorTable(fakeEnv({}), "t", OURS)).resolves.toBeUndefined();
    expect(String(errors.mock.calls[1]?.[0])).toMatch(/HTTP 403.*R2_CATALOG_TOKEN/);
  });

  it("a deleted dataset: dropped there if present, nothing else", async () => {
    const s = script([
      CONFIG,
      {
        method: "GET",
        path: `${P}/default/tables/t`,
        status: 200,
        json: { "metadata-location": "s3://x", metadata: meta([1], 1) },
      },
      { method: "DELETE", path: `${P}/default/tables/t?purgeRequested=false`, status: 204 },
    ]);
    vi.spyOn(console, "log").mockImplementation(() => {});
    await mirrorTable(fakeEnv({}), "t", stub(null));
    expect(s.left).toEqual([]);
  });
});

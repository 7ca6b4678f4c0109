// IndexRegistry: the one Durable Object that knows every vector index by name — its
// spec, engine and counts — so `GET /index` can list them (a Durable Object per index
// cannot be enumerated, and Vectorize cannot list or count a namespace).
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/index-registry/index";
import { applyMigrations } from "../../../shared/migrations";
import type { Distance } from "../../../shared/types";
import type { Quantization } from "./hnsw";

export type Engine = "local" | "vectorize";

export interface IndexSpec {
  name: string;
  dimension: number;
  distance: Distance;
  m: number;
  ef_search: number;
  shards: number;
  engine: Engine;
  /** Local engine: how a shard holds vectors in memory (vectorize: always "none"). */
  quantization: Quantization;
}

export interface IndexRecord extends IndexSpec {
  count: number;
  shard_counts: number[];
  created_at: string;
}

type Row = Omit<IndexRecord, "shard_counts" | "count"> & { shard_counts: string };

function toRecord(r: Row): IndexRecord {
  const shardCounts = JSON.parse(r.shard_counts) as number[];
  return {
    name: r.name,
    dimension: r.dimension,
    distance: r.distance,
    m: r.m,
    ef_search: r.ef_search,
    shards: r.shards,
    engine: r.engine,
    quantization: r.quantization,
    shard_counts: shardCounts,
    count: shardCounts.reduce((a, b) => a + b, 0),
    created_at: r.created_at,
  };
}

export class IndexRegistry extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
    });
  }

  /** Registers a new index; returns the existing record instead when the name is taken. */
  create(spec: IndexSpec): { created: IndexRecord } | { exists: IndexRecord } {
    const existing = this.get(spec.name);
    if (existing) return { exists: existing };
    this.ctx.storage.sql.exec(
      "INSERT INTO indexes (name, dimension, distance, m, ef_search, shards, engine, quantization, shard_counts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      spec.name,
      spec.dimension,
      spec.distance,
      spec.m,
      spec.ef_search,
      spec.shards,
      spec.engine,
      spec.quantization,
      JSON.stringify(new Array(spec.shards).fill(0)),
      new Date().toISOString(),
    );
    return { created: this.get(spec.name)! };
  }

  get(name: string): IndexRecord | null {
    const rows = this.ctx.storage.sql
      .exec<Row>("SELECT * FROM indexes WHERE name = ?", name)
      .toArray();
    return rows[0] ? toRecord(rows[0]) : null;
  }

  list(): IndexRecord[] {
    return this.ctx.storage.sql
      .exec<Row>("SELECT * FROM indexes ORDER BY name")
      .toArray()
      .map(toRecord);
  }

  /** Records a shard's live count after a write (local engine). */
  setShardCount(name: string, shard: number, count: number): void {
    const rec = this.get(name);
    if (!rec || shard >= rec.shards) return;
    rec.shard_counts[shard] = count;
    this.ctx.storage.sql.exec(
      "UPDATE indexes SET shard_counts = ? WHERE name = ?",
      JSON.stringify(rec.shard_counts),
      name,
    );
  }

  remove(name: string): boolean {
    const existed = this.get(name) !== null;
    this.ctx.storage.sql.exec("DELETE FROM indexes WHERE name = ?", name);
    this.ctx.storage.sql.exec("DELETE FROM vectorize_ids WHERE name = ?", name);
    return existed;
  }

  /** Vectorize engine: remembers ids written to an index's namespace; returns the new count. */
  vectorizeAdd(name: string, ids: string[]): number {
    this.ctx.storage.transactionSync(() => {
      for (const id of ids)
        this.ctx.storage.sql.exec(
          "INSERT OR IGNORE INTO vectorize_ids (name, id) VALUES (?, ?)",
          name,
          id,
        );
    });
    return this.vectorizeCount(name);
  }

  /** Vectorize engine: which of `ids` the index holds (to delete only those). */
  vectorizeHas(name: string, ids: string[]): string[] {
    return ids.filter(
      (id) =>
        this.ctx.storage.sql
          .exec("SELECT 1 FROM vectorize_ids WHERE name = ? AND id = ?", name, id)
          .toArray().length > 0,
    );
  }

  vectorizeRemove(name: string, ids: string[]): number {
    this.ctx.storage.transactionSync(() => {
      for (const id of ids)
        this.ctx.storage.sql.exec("DELETE FROM vectorize_ids WHERE name = ? AND id = ?", name, id);
    });
    return this.vectorizeCount(name);
  }

  vectorizeIds(name: string, limit: number): string[] {
    return this.ctx.storage.sql
      .exec<{ id: string }>("SELECT id FROM vectorize_ids WHERE name = ? LIMIT ?", name, limit)
      .toArray()
      .map((r) => r.id);
  }

  private vectorizeCount(name: string): number {
    const n = this.ctx.storage.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM vectorize_ids WHERE name = ?", name)
      .one().n;
    this.ctx.storage.sql.exec(
      "UPDATE indexes SET shard_counts = ? WHERE name = ?",
      JSON.stringify([n]),
      name,
    );
    return n;
  }
}

// EmbedCache: the one LRU of embeddings, keyed by model + SHA-256(text), shared by every
// embed isolate (a per-isolate Map would give each isolate its own hits and stats) and
// durable in SQLite, so the cache and its hit/miss counters survive restarts.
// Recency is a monotonic use counter; a store that passes the capacity evicts the least
// recently used entries.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/embed-cache/index";
import { applyMigrations } from "../../../shared/migrations";

export interface CacheStats {
  hits: number;
  misses: number;
  hit_rate: number;
  size: number;
  capacity: number;
}

export class EmbedCache extends DurableObject<Env> {
  private clock = 0;
  private hits = 0;
  private misses = 0;
  private size = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
      const stat = (name: string) =>
        ctx.storage.sql
          .exec<{ value: number }>("SELECT value FROM stats WHERE name = ?", name)
          .toArray()[0]?.value ?? 0;
      this.clock = stat("clock");
      this.hits = stat("hits");
      this.misses = stat("misses");
      this.size = ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries").one().n;
    });
  }

  private saveStats(): void {
    for (const [name, value] of [
      ["clock", this.clock],
      ["hits", this.hits],
      ["misses", this.misses],
    ] as const) {
      this.ctx.storage.sql.exec(
        "INSERT INTO stats (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        name,
        value,
      );
    }
  }

  /** Looks up each key (in order); found entries become most recent. Counts one hit or miss per key. */
  lookup(keys: string[]): (ArrayBuffer | null)[] {
    const sql = this.ctx.storage.sql;
    const out: (ArrayBuffer | null)[] = [];
    this.ctx.storage.transactionSync(() => {
      for (const key of keys) {
        const row = sql
          .exec<{ vector: ArrayBuffer }>("SELECT vector FROM entries WHERE key = ?", key)
          .toArray()[0];
        if (row) {
          sql.exec("UPDATE entries SET last_used = ? WHERE key = ?", ++this.clock, key);
          this.hits++;
          out.push(row.vector);
        } else {
          this.misses++;
          out.push(null);
        }
      }
      this.saveStats();
    });
    return out;
  }

  /** Stores entries, then evicts least recently used ones beyond `capacity` (0 empties the cache). */
  store(entries: { key: string; vector: ArrayBuffer }[], capacity: number): number {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const e of entries) {
        sql.exec(
          "INSERT INTO entries (key, vector, last_used) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET vector = excluded.vector, last_used = excluded.last_used",
          e.key,
          e.vector,
          ++this.clock,
        );
      }
      this.size = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries").one().n;
      if (this.size > capacity) {
        sql.exec(
          "DELETE FROM entries WHERE key IN (SELECT key FROM entries ORDER BY last_used ASC LIMIT ?)",
          this.size - capacity,
        );
        this.size = capacity;
      }
      this.saveStats();
    });
    return this.size;
  }

  stats(capacity: number): CacheStats {
    const total = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      hit_rate: total === 0 ? 0 : this.hits / total,
      size: this.size,
      capacity,
    };
  }
}

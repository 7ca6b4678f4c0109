// Schema migrations for a Durable Object's SQLite: applied in order, each once,
// each inside a transaction with its bookkeeping row, at object start.
// Files live in migrations/<object>/NNNN_name.sql and are listed in that folder's index.ts.

export interface Migration {
  name: string;
  sql: string;
}

export function applyMigrations(
  storage: DurableObjectStorage,
  migrations: readonly Migration[],
): string[] {
  const sql = storage.sql;
  sql.exec(
    "CREATE TABLE IF NOT EXISTS _lh_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
  );
  const applied = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM _lh_migrations")
      .toArray()
      .map((r) => r.name),
  );
  const names = migrations.map((m) => m.name);
  const sorted = [...names].sort();
  if (names.join("\n") !== sorted.join("\n"))
    throw new Error(`migrations out of order: ${names.join(", ")}`);
  const newlyApplied: string[] = [];
  for (const m of migrations) {
    if (applied.has(m.name)) continue;
    storage.transactionSync(() => {
      sql.exec(m.sql);
      sql.exec(
        "INSERT INTO _lh_migrations (name, applied_at) VALUES (?, ?)",
        m.name,
        new Date().toISOString(),
      );
    });
    newlyApplied.push(m.name);
  }
  return newlyApplied;
}

// The QueryEngine Durable Object's SQLite migrations, applied in order, each once, at start.
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";
import cacheBudget from "./0002_cache_budget.sql";

export const MIGRATIONS: Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_cache_budget", sql: cacheBudget },
];

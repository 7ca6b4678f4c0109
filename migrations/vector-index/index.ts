// Schema migrations of the VectorIndex Durable Object (one shard of a vector index).
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";

export const MIGRATIONS: Migration[] = [{ name: "0001_init", sql: init }];

// Schema migrations of the Observer Durable Object, applied in order at start.
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";

export const MIGRATIONS: Migration[] = [{ name: "0001_init", sql: init }];

// Schema migrations of the EmbedCache Durable Object.
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";

export const MIGRATIONS: Migration[] = [{ name: "0001_init", sql: init }];

// Schema migrations of the IndexRegistry Durable Object (names, specs and counts of vector indexes).
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";
import quantization from "./0002_quantization.sql";

export const MIGRATIONS: Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_quantization", sql: quantization },
];

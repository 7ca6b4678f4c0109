// lakehouse-query: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("query", "sql");

export { QueryEngine } from "./queryEngine";
export default app satisfies ExportedHandler<Env>;

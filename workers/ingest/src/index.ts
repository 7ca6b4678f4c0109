// lakehouse-ingest: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("ingest", "ingest");

export default app satisfies ExportedHandler<Env>;

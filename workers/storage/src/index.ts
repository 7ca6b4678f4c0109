// lakehouse-storage: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("storage", "storage");

export default app satisfies ExportedHandler<Env>;

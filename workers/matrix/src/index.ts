// lakehouse-matrix: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("matrix", "matrix");

export default app satisfies ExportedHandler<Env>;

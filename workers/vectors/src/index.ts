// lakehouse-vectors: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("vectors", "vectors");

export { VectorIndex } from "./vectorIndex";
export default app satisfies ExportedHandler<Env>;

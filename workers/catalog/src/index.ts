// lakehouse-catalog: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("catalog", "catalog");

export { Catalog } from "./catalog";
export default app satisfies ExportedHandler<Env>;

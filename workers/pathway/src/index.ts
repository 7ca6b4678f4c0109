// lakehouse-pathway: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("pathway", "pathway");

export { PathwayMemory } from "./pathwayMemory";
export default app satisfies ExportedHandler<Env>;

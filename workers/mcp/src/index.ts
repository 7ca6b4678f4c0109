// lakehouse-mcp: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("mcp", "mcp");

export default app satisfies ExportedHandler<Env>;

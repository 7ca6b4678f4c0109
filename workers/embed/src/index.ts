// lakehouse-embed: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("embed", "embed");

export { EmbedCache } from "./embedCache";
export default app satisfies ExportedHandler<Env>;

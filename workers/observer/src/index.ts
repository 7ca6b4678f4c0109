// lakehouse-observer: see README's Workers table for what it owns.
import { createServiceApp } from "../../../shared/app";

const { app } = createServiceApp<Env>("observer", "observer");

export { Observer } from "./observer";
export default app satisfies ExportedHandler<Env>;

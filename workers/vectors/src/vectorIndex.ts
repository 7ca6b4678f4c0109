import { DurableObject } from "cloudflare:workers";

export class VectorIndex extends DurableObject {}

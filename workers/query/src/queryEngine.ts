import { DurableObject } from "cloudflare:workers";

export class QueryEngine extends DurableObject {}

import { DurableObject } from "cloudflare:workers";

export class EmbedCache extends DurableObject {}

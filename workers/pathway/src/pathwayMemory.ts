import { DurableObject } from "cloudflare:workers";

export class PathwayMemory extends DurableObject {}

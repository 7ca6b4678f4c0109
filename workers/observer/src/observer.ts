import { DurableObject } from "cloudflare:workers";

export class Observer extends DurableObject {}

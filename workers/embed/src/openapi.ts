// OpenAPI entries of the embed routes (documentation only; the handler validates by hand).
import { z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";

const Err = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi("EmbedError");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function documentEmbed(api: OpenAPIHono<any>): void {
  api.openAPIRegistry.registerPath({
    method: "post", path: "/", summary: "Embed texts (cached by model + SHA-256 of the text; only misses reach the provider)",
    request: { body: { required: true, content: { "application/json": { schema: z.object({ texts: z.array(z.string()).min(1), model: z.string().optional() }) } } } },
    responses: {
      200: { description: "one vector per text, in order", content: { "application/json": { schema: z.object({ model: z.string(), dimension: z.number().int(), vectors: z.array(z.array(z.number())), cache_hits: z.number().int() }) } } },
      400: { description: "empty text, too many texts, unknown model", content: { "application/json": { schema: Err } } },
      502: { description: "the provider failed (named in the message)", content: { "application/json": { schema: Err } } },
    },
  });
  api.openAPIRegistry.registerPath({
    method: "get", path: "/stats", summary: "Cache statistics, shared by every embed isolate",
    responses: { 200: { description: "stats", content: { "application/json": { schema: z.object({ hits: z.number().int(), misses: z.number().int(), hit_rate: z.number(), size: z.number().int(), capacity: z.number().int(), provider: z.string() }) } } } },
  });
}

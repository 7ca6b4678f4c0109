// The zod schemas of the embed routes. The request schema validates: index.ts declares each
// route with `api.openapi(createRoute(...), handler, fieldErrors)`, so a body EmbedBody rejects
// is a 400 worded like `texts[1]: empty text`, and the same schemas are what
// GET /embed/openapi.json shows. The cap on texts ([embedd].max_texts) needs the config and
// stays in index.ts.
import { z } from "@hono/zod-openapi";
import { show } from "../../../shared/field-errors";

const TEXTS = "expected a non-empty array of strings";

/** POST /embed: the texts to embed, in order, and optionally the model. */
export const EmbedBody = z.strictObject(
  {
    texts: z
      .array(
        z
          .string({ error: (iss) => `expected a string, got ${show(iss.input)}` })
          .refine((t) => t.trim() !== "", { error: "empty text" }),
        { error: TEXTS },
      )
      .min(1, { error: TEXTS })
      .openapi({
        description: "the texts (at most [embedd].max_texts, none blank)",
        example: ["the quick brown fox"],
      }),
    model: z
      .string({ error: (iss) => `expected a non-empty string, got ${show(iss.input)}` })
      .min(1, { error: (iss) => `expected a non-empty string, got ${show(iss.input)}` })
      .optional()
      .openapi({
        description: "the model (default: [embedd].default_model, else the provider's default)",
      }),
  },
  { error: "request body must be a JSON object" },
);

/** The answer of POST /embed. */
export const EmbedResult = z.object({
  model: z.string(),
  dimension: z.number().int(),
  vectors: z.array(z.array(z.number())),
  cache_hits: z.number().int(),
});
/** The answer of GET /embed/stats. */
export const EmbedStats = z.object({
  hits: z.number().int(),
  misses: z.number().int(),
  hit_rate: z.number(),
  size: z.number().int(),
  capacity: z.number().int(),
  provider: z.string(),
});
export const EmbedError = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("EmbedError");

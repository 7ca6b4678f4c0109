// A fake of the Workers AI binding for tests (Workers AI cannot run locally).
// `run("@cf/baai/bge-*", { text: [...] })` answers like Workers AI: `{ shape: [n, d], data }`
// with d = 768 (base), 384 (small) or 1024 (large). Vectors are deterministic per model and
// text (feature hashing, not a model). Workers AI's own limit of 100 texts per call is kept.
// A text containing "__fail__" makes the call throw, as a failing upstream would.
// The lakehouse-fakes Worker (test/fakes/index.ts) exports it; the test configurations bind
// it to the embed Worker as AI (test/aux-workers.ts).
import { WorkerEntrypoint } from "cloudflare:workers";
import { lexicalEmbed } from "../../../workers/embed/src/lexical";

const DIMENSIONS: Record<string, number> = {
  "@cf/baai/bge-base-en-v1.5": 768,
  "@cf/baai/bge-small-en-v1.5": 384,
  "@cf/baai/bge-large-en-v1.5": 1024,
};

export class FakeAi extends WorkerEntrypoint {
  async run(
    model: string,
    inputs: { text: string | string[] },
  ): Promise<{ shape: number[]; data: number[][] }> {
    const dim = DIMENSIONS[model];
    if (!dim) throw new Error(`AiError: 5007: No such model ${model} or task`);
    const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
    if (texts.length > 100)
      throw new Error(`AiError: 3010: too many inputs (${texts.length} > 100)`);
    if (texts.some((t) => t.includes("__fail__")))
      throw new Error("AiError: 3040: capacity temporarily exceeded");
    const data = texts.map((t) => Array.from(lexicalEmbed(`${model} ${t}`, dim)));
    return { shape: [texts.length, dim], data };
  }
}

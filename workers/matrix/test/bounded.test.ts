// Issue #12: a matrix search is bounded — at most [matrixd].max_corpora corpora, and
// per_corpus_k × corpora within MAX_TOTAL_HITS (or [vectord].max_k) — and deep JSON
// (e.g. playbook tags) is a 400 naming the depth limit before anything is stored.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { MAX_TOTAL_HITS } from "../src/limits";

async function call(
  path: string,
  body: string,
  bindings: Record<string, unknown> = {},
): Promise<{ status: number; body: any }> {
  const req = new Request(`http://x/matrix${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const res = await worker.fetch(req, { ...env, ...bindings } as Env, {} as ExecutionContext);
  return { status: res.status, body: await res.json() };
}

describe("bounded matrix search", () => {
  it("more corpora than [matrixd].max_corpora is a 400 naming it (before any corpus is asked)", async () => {
    const corpora = Array.from({ length: 17 }, (_, i) => `c${i}`);
    const r = await call("/search", JSON.stringify({ query_vector: [1, 0, 0], corpora }));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(
      /at most 16 corpora per search \(\[matrixd\]\.max_corpora\), got 17/,
    );
    const fewer = await call(
      "/search",
      JSON.stringify({ query_vector: [1, 0, 0], corpora: corpora.slice(0, 3) }),
      { LH_MATRIXD_MAX_CORPORA: "2" },
    );
    expect(fewer.status).toBe(400);
    expect(fewer.body.error.message).toMatch(/max_corpora/);
  });

  it("per_corpus_k × corpora over the merge bound is a 400 naming both", async () => {
    const corpora = Array.from({ length: 5 }, (_, i) => `c${i}`);
    const r = await call(
      "/search",
      JSON.stringify({ query_vector: [1, 0, 0], corpora, per_corpus_k: 1000 }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(
      new RegExp(`per_corpus_k: 1000 × 5 corpora = 5000 hits, over the ${MAX_TOTAL_HITS}`),
    );
  });

  it("deeply nested JSON is a 400 naming the depth limit (playbook tags, search)", async () => {
    const deepTags = `{"query_text":"q","answer_id":"a","answer_corpus":"c","score":1,"tags":${"[".repeat(100)}"x"${"]".repeat(100)}}`;
    const r = await call("/playbooks/record", deepTags);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/depth limit of 64/);
    const s = await call(
      "/search",
      `{"query_vector":[1,0,0],"corpora":["a"],"metadata_filter":${'{"a":'.repeat(300_000)}1${"}".repeat(300_000)}}`,
    );
    expect(s.status).toBe(400);
  });
});

// The cycle's LLM budget (docs/observer.md "LLM budget"): past [observerd].cycle_max_llm_calls
// the remaining escalations stay pending and the remaining recommendations unwritten — they
// wait for the next cycle, which takes them first — rather than being answered by the heuristic.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import fakeLlm from "../../../test/fakes/llm/src/index";
import { runCycle } from "../src/cycle";

async function call(path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const init: RequestInit =
    json === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        };
  const res = await exports.default.fetch(`http://x/observer${path}`, init);
  return { status: res.status, body: await res.json() };
}

const LLM = {
  fetch: (input: RequestInfo | URL, init?: RequestInit) => fakeLlm.fetch(new Request(input, init)),
};
const matrixDown = {
  fetch: async () =>
    Response.json(
      { error: { code: "service_unavailable", message: "matrix down" } },
      { status: 503 },
    ),
};
const budgetEnv = (calls: number) =>
  ({
    ...env,
    LH_LLM_PROVIDER: "ollama",
    LH_LLM_MODEL: "fake-ok",
    LH_LLM_URL: "http://fake-llm.test",
    LLM,
    MATRIX: matrixDown,
    LH_OBSERVERD_CYCLE_MAX_LLM_CALLS: String(calls),
  }) as unknown as Env;

describe("the cycle's LLM budget", () => {
  it("escalations and recommendations past the budget wait for the next cycle (pending), then get the LLM", async () => {
    for (const sig of ["budget-A", "budget-B", "budget-C"]) {
      for (let i = 0; i < 3; i++)
        expect(
          (
            await call("/event", {
              endpoint: "/v1/sql/sql",
              success: false,
              sig_hash: sig,
              error: `boom ${i}`,
            })
          ).status,
        ).toBe(200);
    }
    const first = await runCycle(budgetEnv(2), "test");
    expect(first.llm_calls).toBe(2);
    expect(first.escalations).toMatchObject({
      status: "ok",
      by_llm: 2,
      by_heuristic: 0,
      deferred: 1,
    });
    expect(first.recommendations).toMatchObject({ status: "ok", written: 0, deferred: 3 });
    let escalations = (await call("/escalations")).body.escalations as any[];
    expect(escalations.map((e) => e.status).sort()).toEqual(["done", "done", "pending"]);
    expect(escalations.filter((e) => e.status === "done").every((e) => e.source === "llm")).toBe(
      true,
    );
    expect((await call("/recommendations")).body.count).toBe(0);

    const second = await runCycle(budgetEnv(2), "test");
    expect(second.escalations).toMatchObject({ by_llm: 1, deferred: 0 });
    expect(second.recommendations).toMatchObject({ written: 1, by_llm: 1, deferred: 2 });
    escalations = (await call("/escalations")).body.escalations as any[];
    expect(escalations.every((e) => e.status === "done" && e.source === "llm")).toBe(true);

    const third = await runCycle(budgetEnv(20), "test");
    expect(third.recommendations).toMatchObject({ written: 2, by_llm: 2, deferred: 0 });
    const recs = (await call("/recommendations")).body.recommendations as any[];
    expect(recs).toHaveLength(3);
    expect(recs.every((r) => r.source === "llm")).toBe(true);
  });
});

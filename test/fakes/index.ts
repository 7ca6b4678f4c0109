// The lakehouse-fakes Worker (test/fakes/wrangler.toml): the fake Workers AI and Vectorize
// entrypoints, bound only by the test configurations (test/aux-workers.ts), never by a
// production bundle (scripts/build.mjs fails when one contains test code).

export { FakeVectorizeCosine, FakeVectorizeDot, FakeVectorizeEuclidean } from "./vectorize/index";
export { FakeAi } from "./workers-ai/index";

export default {
  async fetch(): Promise<Response> {
    return Response.json({ service: "fakes", status: "ok" });
  },
} satisfies ExportedHandler;

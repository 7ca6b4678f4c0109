// The fake LLM Worker. Behaviour follows the requested model name:
//   fake-down     → HTTP 503 (an LLM that is down)
//   fake-hang     → never answers (until the caller gives up: the timeout path)
//   fake-garbage  → 200 with prose and no JSON
//   anything else → a deterministic answer by task, read from the prompt's first word:
//                   REVIEW → {"verdict": accept, or reject when the answer contains "WRONG"}
//                   RECOMMEND / ESCALATION → a text naming the cluster
// GET /calls lists the calls received (task and model); DELETE /calls forgets them.

type Message = { role: string; content: string };
const calls: { path: string; model: string; task: string }[] = [];

function answerFor(messages: Message[]): string {
  const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const task = user.split(/\s/, 1)[0] ?? "";
  if (task === "REVIEW") {
    const answer = user.slice(user.indexOf("ANSWER:") + 7);
    const wrong = answer.includes("WRONG");
    return (
      "```json\n" +
      JSON.stringify({
        verdict: wrong ? "reject" : "accept",
        confidence: 0.81,
        notes: wrong
          ? "fake-llm: the answer contradicts the source"
          : "fake-llm: the answer follows the source",
      }) +
      "\n```"
    );
  }
  const cluster = /cluster (\S+):/.exec(user)?.[1] ?? "unknown";
  if (task === "RECOMMEND")
    return `fake-llm recommendation for ${cluster}: validate inputs before calling.`;
  if (task === "ESCALATION")
    return `fake-llm escalation analysis for ${cluster}: root cause is upstream; fix the caller.`;
  return "fake-llm: ok";
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/calls") {
      if (request.method === "DELETE") calls.length = 0;
      return Response.json({ calls });
    }
    if (url.pathname === "/health") return Response.json({ service: "fake-llm", status: "ok" });
    const ollama = url.pathname.endsWith("/api/chat");
    const openai = url.pathname.endsWith("/chat/completions");
    if (request.method !== "POST" || (!ollama && !openai))
      return Response.json({ error: "not found" }, { status: 404 });
    const body = (await request.json()) as { model?: string; messages?: Message[] };
    const model = body.model ?? "";
    const messages = body.messages ?? [];
    const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
    calls.push({ path: url.pathname, model, task: user.split(/\s/, 1)[0] ?? "" });
    if (model === "fake-down")
      return Response.json({ error: "model is unavailable" }, { status: 503 });
    if (model === "fake-hang") {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 600_000);
        request.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve(undefined);
        });
      });
      return Response.json({ error: "gave up" }, { status: 504 });
    }
    const content =
      model === "fake-garbage" ? "I think it is probably fine, more or less." : answerFor(messages);
    if (ollama)
      return Response.json({
        model,
        created_at: new Date().toISOString(),
        message: { role: "assistant", content },
        done: true,
      });
    return Response.json({
      id: "fake-1",
      object: "chat.completion",
      model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    });
  },
};

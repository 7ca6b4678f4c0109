// Per-isolate heap and CPU of the Workers under `wrangler dev`, read through workerd's own
// inspector. wrangler's --inspector-port shows only the first Worker; the workerd process
// that runs them opens a second inspector on a random port with one target per Worker
// (id `core:user:<worker name>`; Durable Objects run in their Worker's isolate). We find
// that port among the workerd process's listening sockets, open a WebSocket per target,
// and sample CDP `Runtime.getHeapUsage`; CPU comes from a `Profiler` run (non-idle samples).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Pids of every process whose command line mentions `marker`, and their descendants. */
function processTree(marker: string): Map<string, string> {
  const info = new Map<string, { ppid: string; cmd: string; comm: string }>();
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      info.set(p, {
        ppid: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!,
        cmd: readFileSync(`/proc/${p}/cmdline`, "utf8"),
        comm: readFileSync(`/proc/${p}/comm`, "utf8").trim(),
      });
    } catch {
      // gone
    }
  }
  const all = new Set([...info].filter(([, v]) => v.cmd.includes(marker)).map(([p]) => p));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, v] of info) if (!all.has(p) && all.has(v.ppid)) all.add(p), (grew = true);
  }
  return new Map([...all].map((p) => [p, info.get(p)?.comm ?? ""]));
}

/** The inspector URL of workerd's per-Worker targets, found from the persist dir in its parent's command line. */
export async function findWorkerdInspector(persistDir: string): Promise<string> {
  const pids = [...processTree(persistDir)]
    .filter(([, comm]) => comm === "workerd")
    .map(([p]) => p);
  if (pids.length === 0) throw new Error("no workerd process under the dev server");
  const ss = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
  const ports = ss
    .split("\n")
    .filter((l) => pids.some((p) => l.includes(`pid=${p},`)))
    .map((l) => /127\.0\.0\.1:(\d+)/.exec(l)?.[1])
    .filter((p): p is string => Boolean(p));
  for (const port of ports) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json`, {
        signal: AbortSignal.timeout(1000),
      });
      const targets = (await res.json()) as { id: string }[];
      if (Array.isArray(targets) && targets.some((t) => String(t.id).startsWith("core:user:")))
        return `127.0.0.1:${port}`;
    } catch {
      // not the inspector
    }
  }
  throw new Error(`no inspector with Worker targets among workerd's ports ${ports.join(", ")}`);
}

class Cdp {
  private next = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data));
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
  }
  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(
        () => (ws.close(), reject(new Error(`inspector ${url} did not open within 10 s`))),
        10_000,
      );
      ws.addEventListener("open", () => (clearTimeout(timer), resolve(new Cdp(ws))), {
        once: true,
      });
      ws.addEventListener(
        "error",
        () => (clearTimeout(timer), reject(new Error(`inspector ${url} refused`))),
        { once: true },
      );
    });
  }
  /** One CDP call; an isolate busy for longer than `ms` fails the call rather than hanging the run. */
  send(method: string, params: Record<string, unknown> = {}, ms = 120_000): Promise<any> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => (this.pending.delete(id), reject(new Error(`${method}: no answer within ${ms} ms`))),
        ms,
      );
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close(): void {
    this.ws.close();
  }
}

export interface IsolateUse {
  worker: string;
  peak_heap_mb: number;
  cpu_ms: number;
}

/**
 * Runs `work` while sampling the heap of each Worker in `workers` (e.g. "lakehouse-ingest") every
 * 50 ms, and profiling the CPU of the first one only: every isolate runs on workerd's one thread,
 * and two V8 profilers at once each count the other's samples. CPU is the time the sampler found
 * that isolate running JS or its garbage collector (`cpu_ms` is 0 for the others).
 */
export async function measureIsolates<T>(
  persistDir: string,
  workers: string[],
  work: () => Promise<T>,
): Promise<{ result: T; use: IsolateUse[] }> {
  const host = await findWorkerdInspector(persistDir);
  const targets = (await (await fetch(`http://${host}/json`)).json()) as {
    id: string;
    webSocketDebuggerUrl?: string;
  }[];
  const sessions = new Map<string, Cdp>();
  for (const w of workers) {
    const t = targets.find((x) => x.id === `core:user:${w}`);
    if (!t)
      throw new Error(`no inspector target for ${w} (have ${targets.map((x) => x.id).join(", ")})`);
    sessions.set(w, await Cdp.open(t.webSocketDebuggerUrl ?? `ws://${host}/${t.id}`));
  }
  const peaks = new Map(workers.map((w) => [w, 0]));
  try {
    const profiled = sessions.get(workers[0]!)!;
    await profiled.send("Profiler.enable");
    await profiled.send("Profiler.start");
    let done = false;
    const sampler = (async () => {
      while (!done) {
        await Promise.all(
          [...sessions].map(async ([w, s]) => {
            try {
              const { usedSize } = await s.send("Runtime.getHeapUsage", {}, 5_000);
              peaks.set(w, Math.max(peaks.get(w)!, usedSize));
            } catch {
              // a busy isolate answers late; the next sample will do
            }
          }),
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let result: T;
    try {
      result = await work();
    } finally {
      done = true;
      await sampler;
    }
    const use: IsolateUse[] = [];
    for (const [w, s] of sessions) {
      if (s !== profiled) {
        use.push({ worker: w, peak_heap_mb: peaks.get(w)! / 2 ** 20, cpu_ms: 0 });
        continue;
      }
      const { profile } = await s.send("Profiler.stop");
      const idle = new Set<number>(
        (profile.nodes as { id: number; callFrame: { functionName: string } }[])
          .filter((n) => n.callFrame.functionName === "(idle)")
          .map((n) => n.id),
      );
      let cpuUs = 0;
      (profile.samples as number[]).forEach((id, i) => {
        if (!idle.has(id)) cpuUs += (profile.timeDeltas as number[])[i] ?? 0;
      });
      use.push({ worker: w, peak_heap_mb: peaks.get(w)! / 2 ** 20, cpu_ms: cpuUs / 1000 });
    }
    return { result, use };
  } finally {
    for (const s of sessions.values()) s.close();
  }
}

// Gateway overhead: GET /v1/storage/health through the gateway (auth, request id,
// forward over a service binding) vs GET /health on the storage Worker served on its
// own by a second `wrangler dev`. Both on this machine, same client, one run.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { WRANGLER_ENV } from "../../scripts/workers.mjs";
import { freePort, type System } from "../../test/e2e/harness.ts";
import { percentile, row, type SuiteResult, sample } from "../lib.ts";

async function startStorageAlone(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const inspector = await freePort();
  const child = spawn(
    process.execPath,
    [
      resolve("node_modules/wrangler/bin/wrangler.js"),
      "dev",
      "-c",
      "workers/storage/wrangler.toml",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--ip",
      "127.0.0.1",
      "--show-interactive-dev-session=false",
    ],
    {
      detached: true,
      stdio: "ignore",
      env: { ...process.env, ...WRANGLER_ENV, CI: "1" },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    url,
    stop: () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        /* gone */
      }
    },
  };
}

export async function run(sys: System): Promise<SuiteResult> {
  const alone = await startStorageAlone();
  try {
    const viaGateway = () => sys.fetch("/v1/storage/health").then((r) => r.arrayBuffer());
    const direct = () => fetch(`${alone.url}/health`).then((r) => r.arrayBuffer());
    // warm both paths
    await sample(viaGateway, 200, 4);
    await sample(direct, 200, 4);
    const rows = [];
    for (const concurrency of [1, 8]) {
      const g = await sample(viaGateway, 2000, concurrency);
      const d = await sample(direct, 2000, concurrency);
      rows.push(
        row(
          `p50 latency, concurrency ${concurrency}`,
          percentile(g.latencies, 50),
          percentile(d.latencies, 50),
          "ms",
        ),
      );
      rows.push(
        row(
          `p99 latency, concurrency ${concurrency}`,
          percentile(g.latencies, 99),
          percentile(d.latencies, 99),
          "ms",
        ),
      );
      rows.push(
        row(
          `throughput, concurrency ${concurrency}`,
          (2000 / g.wallMs) * 1000,
          (2000 / d.wallMs) * 1000,
          "req/s",
        ),
      );
    }
    return {
      name: "gateway",
      title: "Gateway added latency",
      ours_label: "through gateway",
      peer_label: "storage Worker direct",
      rows,
      notes: [
        "GET /v1/storage/health with bearer auth via the gateway vs GET /health on a lone storage Worker; 2000 requests per cell.",
        "Both run in local workerd (wrangler dev) on this 2-core machine; the client runs on the same cores.",
      ],
    };
  } finally {
    alone.stop();
  }
}

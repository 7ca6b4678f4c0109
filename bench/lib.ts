// Shared pieces of the benchmarks: latency sampling, percentiles, result rows, uploads.
import { readFileSync } from "node:fs";
import type { System } from "../test/e2e/harness.ts";

export interface Row {
  case: string;
  ours: number;
  peer: number;
  unit: string;
  /** ours / peer: >1 means we are slower (for times) */
  ratio: number;
  note?: string;
}

export interface SuiteResult {
  name: string;
  title: string;
  ours_label: string;
  peer_label: string;
  rows: Row[];
  notes: string[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** Runs `fn` `n` times with `concurrency` in flight; returns sorted latencies in ms and the wall time. */
export async function sample(
  fn: () => Promise<unknown>,
  n: number,
  concurrency = 1,
): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  async function worker(): Promise<void> {
    while (next < n) {
      next++;
      const t0 = performance.now();
      await fn();
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { latencies, wallMs };
}

export function row(name: string, ours: number, peer: number, unit: string, note?: string): Row {
  return {
    case: name,
    ours: round(ours),
    peer: round(peer),
    unit,
    ratio: round(ours / peer),
    ...(note ? { note } : {}),
  };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
}

/** Uploads a file through storage multipart in 64 MiB parts, as `lakehouse ingest` does for big files. */
export async function multipartUpload(sys: System, path: string, key: string): Promise<void> {
  const part = 64 * 1024 * 1024;
  const start = await sys.json(`/v1/storage/multipart/${key}`, { method: "POST" });
  if (start.status >= 300)
    throw new Error(`multipart start: ${start.status} ${JSON.stringify(start.body)}`);
  const id = encodeURIComponent(start.body.upload_id as string);
  const bytes = readFileSync(path);
  const parts: { part_number: number; etag: string }[] = [];
  for (let i = 0, n = 1; i < bytes.byteLength; i += part, n++) {
    const res = await sys.json(`/v1/storage/multipart/${key}?upload_id=${id}&part=${n}`, {
      method: "PUT",
      body: bytes.subarray(i, i + part),
    });
    if (res.status >= 300)
      throw new Error(`multipart part ${n}: ${res.status} ${JSON.stringify(res.body)}`);
    parts.push({ part_number: n, etag: res.body.etag });
  }
  const done = await sys.json(`/v1/storage/multipart/${key}/complete?upload_id=${id}`, {
    method: "POST",
    json: { parts },
  });
  if (done.status >= 300)
    throw new Error(`multipart complete: ${done.status} ${JSON.stringify(done.body)}`);
}

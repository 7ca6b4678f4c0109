// The Workers of the system, in the order `wrangler dev` gets their configs
// (the gateway first: it takes the HTTP port).
export const WORKERS = [
  "gateway",
  "storage",
  "catalog",
  "ingest",
  "query",
  "embed",
  "vectors",
  "pathway",
  "matrix",
  "observer",
  "mcp",
];

export function configPath(worker) {
  return worker === "gateway" ? "wrangler.toml" : `workers/${worker}/wrangler.toml`;
}

export function devConfigArgs() {
  return WORKERS.flatMap((w) => ["-c", configPath(w)]);
}

/** Environment for every wrangler call: no telemetry, no network lookups. */
export const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

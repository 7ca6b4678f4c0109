// The shape of lakehouse.toml: every section, every key, its type, its default.
// lakehouse.toml at the repository root carries exactly these keys; the loader
// (config.ts) rejects anything this schema does not name.

export type KeySpec =
  | { type: "int"; default: number; min?: number; max?: number }
  | { type: "number"; default: number; min?: number; max?: number }
  | { type: "bool"; default: boolean }
  | { type: "string"; default: string; allowEmpty?: boolean }
  | { type: "enum"; default: string; values: readonly string[] }
  | { type: "string[]"; default: readonly string[] };

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const CONFIG_SCHEMA = {
  gateway: {
    upstream_timeout_ms: { type: "int", default: 120_000, min: 1 },
    health_timeout_ms: { type: "int", default: 5_000, min: 1 },
    console: { type: "bool", default: true },
  },
  "gateway.body_caps": {
    storage: { type: "int", default: 256 * MiB, min: 0 },
    catalog: { type: "int", default: 4 * MiB, min: 0 },
    ingest: { type: "int", default: 256 * MiB, min: 0 },
    sql: { type: "int", default: 1 * MiB, min: 0 },
    vectors: { type: "int", default: 64 * MiB, min: 0 },
    embed: { type: "int", default: 8 * MiB, min: 0 },
    pathway: { type: "int", default: 4 * MiB, min: 0 },
    matrix: { type: "int", default: 4 * MiB, min: 0 },
    observer: { type: "int", default: 4 * MiB, min: 0 },
    mcp: { type: "int", default: 4 * MiB, min: 0 },
  },
  storaged: {
    max_put_bytes: { type: "int", default: 256 * MiB, min: 1 },
    max_vectors_put_bytes: { type: "int", default: 4 * GiB, min: 1 },
    list_max_limit: { type: "int", default: 1000, min: 1, max: 1000 },
  },
  catalogd: {
    history_limit: { type: "int", default: 1000, min: 1 },
    // the staging sweep keeps an _ingest/ object with no lease younger than this (its lease is written first)
    staging_grace_s: { type: "int", default: 10, min: 0 },
    // Iceberg: table locations are s3://<bucket_name>/<key>; must equal the LAKE bucket's bucket_name in wrangler.toml
    bucket_name: { type: "string", default: "lakehouse-lake" },
    // "local": our REST catalog (/v1/iceberg) only; "r2-data-catalog": also commit every snapshot to R2 Data Catalog
    // (secrets R2_CATALOG_URI, R2_CATALOG_TOKEN and R2_CATALOG_WAREHOUSE)
    iceberg_catalog: { type: "enum", default: "local", values: ["local", "r2-data-catalog"] },
    // compaction runs when a dataset's current snapshot has more than this many small files (fewer rows than [ingestd].row_group_rows)
    compact_min_files: { type: "int", default: 16, min: 1 },
    // snapshots (versions) kept: the newest retain_versions, and any younger than retain_days; older ones expire
    retain_versions: { type: "int", default: 100, min: 1 },
    retain_days: { type: "number", default: 7, min: 0 },
    // the cron deletes objects under [ingestd].prefix that no catalog row lists once older than this
    // (upload time): a writer in flight writes its files before its commit, well inside it
    orphan_grace_s: { type: "int", default: 86_400, min: 0 },
  },
  ingestd: {
    max_ingest_bytes: { type: "int", default: 256 * MiB, min: 1 },
    sample_rows: { type: "int", default: 1000, min: 1 },
    row_group_rows: { type: "int", default: 100_000, min: 1 },
    // a row group also ends once its column buffers pass this many bytes (a wide table within the 128 MB isolate)
    row_group_bytes: { type: "int", default: 16 * MiB, min: 64 * 1024 },
    // field texts read as null in every column (DuckDB's default: only the empty field)
    null_strings: { type: "string[]", default: [""] },
    compression: { type: "enum", default: "snappy", values: ["snappy", "zstd", "none"] },
    prefix: { type: "string", default: "datasets/" },
    // Durable Object SQLite limits (100 columns per table; 2 MB per string/BLOB/row): a CSV over
    // them would ingest and then fail every query, so ingest refuses it (400 naming line, column, key).
    max_columns: { type: "int", default: 100, min: 1, max: 100 },
    max_field_bytes: { type: "int", default: 1 * MiB, min: 1, max: 2_000_000 },
    max_row_bytes: { type: "int", default: 1 * MiB, min: 1, max: 2_000_000 },
    // lease of a staged upload (_ingest/<uuid>.csv), renewed every third of it while its ingest runs
    staging_lease_s: { type: "int", default: 30, min: 3 },
  },
  queryd: {
    max_rows: { type: "int", default: 10_000, min: 1 },
    // the most bytes one answer's rows take (counted row by row as they come off the cursor, as JSON
    // text: UTF-8 strings, base64 blobs); past it the answer ends with truncated = true. At most 24 MiB:
    // an answer crosses a Durable Object RPC (32 MiB limit) and lives in a 128 MB isolate.
    max_result_bytes: { type: "int", default: 16 * MiB, min: 1024, max: 24 * MiB },
    replicas: { type: "int", default: 1, min: 1, max: 64 },
    timeout_ms: { type: "int", default: 30_000, min: 1 },
    warm_on_ingest: { type: "bool", default: true },
    columnar: { type: "bool", default: true },
    columnar_cache_mb: { type: "int", default: 64, min: 0 },
    // a query whose nested-loop scans of dataset tables multiply to more rows than this is refused (400) before it runs
    max_join_rows: { type: "int", default: 50_000_000, min: 1 },
    // a recursive CTE must carry a literal LIMIT in its own body, at most this many rows (400 otherwise)
    max_recursive_rows: { type: "int", default: 10_000_000, min: 1 },
    // "local" (QueryEngine replicas), "r2sql" (Cloudflare R2 SQL over the Iceberg tables) or "auto"
    // (R2 SQL when a table the query reads is over local_max_rows / local_max_bytes and R2 SQL is configured)
    engine: { type: "enum", default: "auto", values: ["local", "r2sql", "auto"] },
    local_max_rows: { type: "int", default: 1_000_000, min: 1 },
    local_max_bytes: { type: "int", default: 256 * MiB, min: 1 },
    // bytes of loaded datasets one replica keeps in its SQLite; past it the least recently used dataset is evicted
    local_cache_mb: { type: "int", default: 2048, min: 1 },
    // R2 SQL: the account id and warehouse name (wrangler r2 bucket catalog get <bucket>); token: secret R2_SQL_TOKEN
    r2sql_account_id: { type: "string", default: "", allowEmpty: true },
    r2sql_warehouse: { type: "string", default: "", allowEmpty: true },
    // the R2 SQL API base URL; empty = Cloudflare's documented endpoint for the account
    r2sql_url: { type: "string", default: "", allowEmpty: true },
    r2sql_namespace: { type: "string", default: "default" },
    r2sql_timeout_ms: { type: "int", default: 60_000, min: 1 },
  },
  vectord: {
    engine: { type: "enum", default: "local", values: ["local", "vectorize"] },
    default_m: { type: "int", default: 16, min: 2, max: 128 },
    default_ef_search: { type: "int", default: 64, min: 1, max: 4096 },
    ef_construction: { type: "int", default: 200, min: 1, max: 4096 },
    max_k: { type: "int", default: 1000, min: 1 },
    max_dimension: { type: "int", default: 4096, min: 1 },
    vectorize_prefix: { type: "string", default: "lakehouse" },
    default_shards: { type: "int", default: 1, min: 1, max: 64 },
    shard_memory_mb: { type: "int", default: 96, min: 1 },
    quantization: { type: "enum", default: "int8", values: ["none", "int8"] },
    // Metadata of one item as JSON text (UTF-8 bytes); over it the batch is refused (400).
    max_metadata_bytes: { type: "int", default: 4096, min: 64, max: 1 * MiB },
  },
  embedd: {
    provider: {
      type: "enum",
      default: "local",
      values: ["local", "workers-ai", "ollama", "openai"],
    },
    default_model: { type: "string", default: "local-lexical-768" },
    dimension: { type: "int", default: 768, min: 1 },
    cache_size: { type: "int", default: 10_000, min: 0 },
    batch_size: { type: "int", default: 100, min: 1 },
    max_texts: { type: "int", default: 2048, min: 1 },
    timeout_ms: { type: "int", default: 30_000, min: 1 },
    provider_url: { type: "string", default: "", allowEmpty: true },
  },
  pathwayd: {
    max_content_bytes: { type: "int", default: 4 * MiB, min: 1 },
    search_limit: { type: "int", default: 100, min: 1 },
    history_max_depth: { type: "int", default: 1000, min: 1 },
  },
  matrixd: {
    default_k: { type: "int", default: 10, min: 1 },
    per_corpus_k: { type: "int", default: 20, min: 1 },
    playbook_corpus: { type: "string", default: "playbook_memory" },
    playbook_top_k: { type: "int", default: 5, min: 1 },
    playbook_max_distance: { type: "number", default: 0.5, min: 0 },
    force_full_enrichment: { type: "bool", default: false },
    relevance_threshold: { type: "number", default: 0.3 },
    // Most distinct corpora one search fans out to (400 naming it past that).
    max_corpora: { type: "int", default: 16, min: 1, max: 256 },
  },
  observerd: {
    ring_cap: { type: "int", default: 2000, min: 1 },
    recent_scenario_cap: { type: "int", default: 10, min: 1 },
    max_event_bytes: { type: "int", default: 4 * MiB, min: 1 },
    retention_days: { type: "int", default: 30, min: 1 },
    retention_max_ops: { type: "int", default: 1_000_000, min: 1 },
    escalation_threshold: { type: "int", default: 3, min: 1 },
    playbook_min_successes: { type: "int", default: 3, min: 1 },
    corrections_key: { type: "string", default: "observer/overseer_corrections.jsonl" },
    review_timeout_ms: { type: "int", default: 20_000, min: 1 },
    cycle_lease_ms: { type: "int", default: 240_000, min: 1000 },
    cycle_max_llm_calls: { type: "int", default: 20, min: 0 },
    // The ring's byte bound: it holds the newest ops that fit ring_cap and this (ops as stored JSON).
    ring_max_bytes: { type: "int", default: 16 * MiB, min: 64 * 1024 },
    // Cap of input_summary, output_summary and error in one op (UTF-8 bytes; longer is cut, marked).
    max_summary_bytes: { type: "int", default: 4096, min: 256, max: 1 * MiB },
    // Observer objects the events are spread over (by request id); readers merge them (docs/observer.md).
    shards: { type: "int", default: 1, min: 1, max: 32 },
  },
  mcpd: {
    max_rows: { type: "int", default: 200, min: 1 },
    max_chars: { type: "int", default: 20_000, min: 100 },
    tool_timeout_ms: { type: "int", default: 60_000, min: 1 },
    // Hide and refuse every tool that changes stored state (docs/mcp.md, "Read-only mode").
    read_only: { type: "bool", default: false },
  },
  auth: {
    allowed_ips: { type: "string[]", default: [] },
    allow_unauthenticated: { type: "bool", default: false },
  },
  log: {
    level: { type: "enum", default: "info", values: ["debug", "info", "warn", "error"] },
  },
  llm: {
    provider: { type: "enum", default: "none", values: ["none", "workers-ai", "ollama", "openai"] },
    model: { type: "string", default: "", allowEmpty: true },
    url: { type: "string", default: "", allowEmpty: true },
    timeout_ms: { type: "int", default: 20_000, min: 1 },
  },
  models: {
    weak_models: {
      type: "string[]",
      default: [
        "qwen3:latest",
        "qwen3.5:latest",
        "qwen3:8b",
        "llama3.2:3b",
        "gemma3:4b",
        "phi4-mini",
      ],
    },
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

export type ConfigSchema = typeof CONFIG_SCHEMA;
type ValueOf<S extends KeySpec> = S extends { type: "int" | "number" }
  ? number
  : S extends { type: "bool" }
    ? boolean
    : S extends { type: "string[]" }
      ? string[]
      : string;

type SectionValues<T extends Record<string, KeySpec>> = { [K in keyof T]: ValueOf<T[K]> };

type Flat = { [S in keyof ConfigSchema]: SectionValues<ConfigSchema[S]> };

/** The validated configuration. `gateway.body_caps` appears as `gateway.body_caps`. */
export type LakehouseConfig = Omit<Flat, "gateway" | "gateway.body_caps"> & {
  gateway: Flat["gateway"] & { body_caps: Flat["gateway.body_caps"] };
};

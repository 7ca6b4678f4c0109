// Wire types: the JSON shapes that cross Worker boundaries and the public API
// (DESIGN §6). snake_case, as on the wire.

export type ColumnType = "int64" | "float64" | "bool" | "date" | "timestamp" | "string";

export interface SchemaField {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

export interface ManifestObject {
  key: string;
  size: number;
  row_count: number;
  /** SHA-256 (hex) of the source the object was made from (ingest: the CSV bytes); identical content is not re-added. */
  content_sha256?: string;
}

export interface Manifest {
  dataset_id: string;
  name: string;
  schema: SchemaField[];
  schema_fingerprint: string;
  objects: ManifestObject[];
  row_count: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface DatasetSummary {
  dataset_id: string;
  name: string;
  schema_fingerprint: string;
  row_count: number;
  /** Bytes of the current version's Parquet objects. */
  bytes: number;
  version: number;
  updated_at: string;
}

export type ObservedSource =
  | "mcp"
  | "scenario"
  | "langfuse"
  | "overseer_correction"
  | "workflow"
  | "inbox";

export interface ObservedOp {
  timestamp: string;
  endpoint: string;
  input_summary: string;
  success: boolean;
  duration_ms: number;
  output_summary: string;
  error?: string;
  source?: ObservedSource;
  staffer_id?: string;
  sig_hash?: string;
  event_kind?: string;
  role?: string;
  city?: string;
  state?: string;
  count?: number;
  rescue_attempted?: boolean;
  rescue_succeeded?: boolean;
}

export interface Trace {
  uid: string;
  content: unknown;
  predecessor_uid?: string;
  created_at_ns: string;
  updated_at_ns: string;
  retired: boolean;
  replay_count: number;
  tags?: string[];
}

export type Distance = "cosine" | "euclidean" | "dot";

export interface VectorIndexInfo {
  name: string;
  dimension: number;
  distance: Distance;
  count: number;
}

export interface VectorHit {
  id: string;
  distance: number;
  metadata?: Record<string, unknown>;
}

export interface HealthStatus {
  service: string;
  status: "ok" | "degraded";
}

/**
 * What version `to` of a dataset adds over version `from` (the catalog's internal
 * GET /catalog/delta/{name}?from=&to=, read by the query engine's incremental load).
 */
export interface DatasetDelta {
  name: string;
  from: number;
  to: number;
  /** every object of `from` is still in `to` and the schema is unchanged: loading `added` on top of `from` gives `to` */
  append_only: boolean;
  /** the objects `to` adds, in load order */
  added: ManifestObject[];
  /** `to`'s schema and row count */
  schema: SchemaField[];
  row_count: number;
}

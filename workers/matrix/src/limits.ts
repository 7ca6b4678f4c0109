// Bounds of a matrix search (issue #12). Kept out of src/index.ts: a Worker's main module may
// export only handlers and entrypoints (workerd refuses to start on a non-function export).

/** Hits one search may hold for its merge (per_corpus_k × corpora), or [vectord].max_k when larger. */
export const MAX_TOTAL_HITS = 4000;

// The nested-loop estimate: before a statement runs, SQLite's own plan (EXPLAIN QUERY PLAN) says
// which sources each loop nest scans; the product of their rows must stay within
// [queryd].max_join_rows, or the statement is refused (400 query_too_large) — one SQLite step that
// multiplies tables cannot be interrupted once it runs (docs/sql.md, "What is bounded").
// Rule: every scanned source counts with an upper bound of its rows — a dataset its row count, a
// CTE or FROM subquery the product of its own plan's loops (a sum over UNION parts), lowered to its
// literal LIMIT or to 1 for an aggregate without GROUP BY, a recursive CTE its required LIMIT, a
// VALUES list its rows — and a correlated subquery multiplies the loops around it. An equality
// lookup (SEARCH through an automatic index) into a dataset counts its average rows per key value
// (rows / distinct keys, from SQLite, cached per table version): a join on a unique key is not
// multiplied, a join on a key with one value is the full product. Lookups into CTEs and
// subqueries count 1 row (their keys are not known before they run; docs/sql.md).
import { LakehouseError } from "../../../shared/errors";
import type { CteRef, DerivedSource, RecursiveCte } from "./statement-tables";

export interface PlanStep {
  id: number;
  parent: number;
  detail: string;
}

/** What the estimate knows about the names a plan shows. Keys are lower-cased. */
export interface SourceFacts {
  /** a dataset scanned under this name (its physical table, its alias, the name as written) */
  tables: Map<string, { name: string; rows: number }>;
  derived: DerivedSource[];
  cteRefs: CteRef[];
  recursive: RecursiveCte[];
  /** average rows per distinct value of `columns` in the dataset scanned as `name` (undefined: not a dataset) */
  perKey?: (name: string, columns: string[]) => number | undefined;
}

interface Loop {
  label: string;
  rows: number;
}

const unquote = (x: string) =>
  (x.startsWith('"') ? x.slice(1, -1).replaceAll('""', '"') : x).toLowerCase();
const NAME = String.raw`("(?:[^"]|"")*"|\S+)`;
const SCAN = new RegExp(`^SCAN ${NAME}(?: AS ${NAME})?`);
const NODE = new RegExp(`^(?:MATERIALIZE|CO-ROUTINE) ${NAME}$`);
const CORRELATED = /^CORRELATED /;
const SEARCH = new RegExp(
  `^SEARCH ${NAME}(?: AS ${NAME})? USING (?:AUTOMATIC )?(?:PARTIAL )?(?:COVERING )?INDEX(?: \\S+)? \\((.*)\\)$`,
);

/** Throws 400 query_too_large when a loop nest of `plan` multiplies past `budget` rows. */
export function checkJoinBudget(plan: PlanStep[], facts: SourceFacts, budget: number): void {
  const children = new Map<number, PlanStep[]>();
  for (const step of plan) {
    const list = children.get(step.parent) ?? [];
    list.push(step);
    children.set(step.parent, list);
  }
  const nodes = new Map<string, number[]>();
  for (const step of plan) {
    const m = NODE.exec(step.detail);
    if (m) nodes.set(unquote(m[1]!), [...(nodes.get(unquote(m[1]!)) ?? []), step.id]);
  }
  const derived = new Map<string, DerivedSource[]>();
  for (const d of facts.derived)
    derived.set(d.name.toLowerCase(), [...(derived.get(d.name.toLowerCase()) ?? []), d]);
  const cteOf = new Map<string, string[]>();
  for (const r of facts.cteRefs)
    cteOf.set(r.alias.toLowerCase(), [
      ...(cteOf.get(r.alias.toLowerCase()) ?? []),
      r.cte.toLowerCase(),
    ]);
  const recursive = new Map(facts.recursive.map((r) => [r.name.toLowerCase(), r.limit]));

  const visiting = new Set<string>();
  /** Rows of a CTE or subquery by its name: its plan node's output, lowered by what its body says. */
  const derivedRows = (name: string): number | undefined => {
    if (recursive.has(name)) return recursive.get(name) ?? Number.POSITIVE_INFINITY;
    if (visiting.has(name)) return 1; // a recursive step reads one queued row at a time
    visiting.add(name);
    try {
      let fromPlan: number | undefined;
      for (const id of nodes.get(name) ?? []) fromPlan = Math.max(fromPlan ?? 0, outputRows(id));
      const bodies = derived.get(name) ?? [];
      if (bodies.length === 0) return fromPlan;
      let best = 0;
      for (const d of bodies) {
        let r = fromPlan ?? Number.POSITIVE_INFINITY;
        if (d.single) r = Math.min(r, 1);
        if (d.limit !== null) r = Math.min(r, d.limit);
        best = Math.max(best, r);
      }
      return best === Number.POSITIVE_INFINITY ? fromPlan : best;
    } finally {
      visiting.delete(name);
    }
  };
  /** The loop a SCAN step runs, or null for an index lookup and other steps (1 row each). */
  const loopOf = (detail: string): Loop | null => {
    const search = SEARCH.exec(detail);
    if (search) {
      const terms = search[3]!.split(" AND ");
      const columns = terms.filter((t) => /^\S+=\?$/.test(t)).map((t) => t.slice(0, -2));
      if (columns.length === 0 || columns.length !== terms.length) return null;
      let best: Loop | null = null;
      for (const n of [unquote(search[1]!), ...(search[2] ? [unquote(search[2])] : [])]) {
        const t = facts.tables.get(n);
        const avg = t ? facts.perKey?.(n, columns) : undefined;
        if (t && avg !== undefined && avg > 1 && (!best || avg > best.rows)) {
          best = {
            label: `${t.name} (≈ ${Math.round(avg)} rows per key ${columns.join(", ")})`,
            rows: avg,
          };
        }
      }
      return best;
    }
    const values = /^SCAN (\d+)-ROW VALUES CLAUSE/.exec(detail);
    if (values) return { label: `a VALUES list (${values[1]} rows)`, rows: Number(values[1]) };
    const m = SCAN.exec(detail);
    if (!m || /^SCAN CONSTANT ROW/.test(detail)) return null;
    const names = [unquote(m[1]!), ...(m[2] ? [unquote(m[2])] : [])];
    let best: Loop | null = null;
    for (const n of names) {
      const t = facts.tables.get(n);
      if (t && (!best || t.rows > best.rows))
        best = { label: `${t.name} (${t.rows} rows)`, rows: t.rows };
      for (const cte of [...(cteOf.get(n) ?? []), n]) {
        const r = derivedRows(cte);
        if (r !== undefined && (!best || r > best.rows))
          best = { label: `${cte === n ? n : `${n} (CTE ${cte})`} (≤ ${r} rows)`, rows: r };
      }
    }
    return best;
  };
  /** Rows a plan node yields: the product of its loops, or the sum over its compound parts. */
  const outputRows = (id: number): number => {
    const steps = children.get(id) ?? [];
    let product = 1;
    let loops = 0;
    let parts = 0;
    for (const step of steps) {
      if (step.detail === "COMPOUND QUERY")
        for (const part of children.get(step.id) ?? []) parts += outputRows(part.id);
      const loop = loopOf(step.detail);
      if (loop) {
        product *= Math.max(1, loop.rows);
        loops++;
      }
    }
    return loops === 0 && parts > 0 ? parts : product;
  };
  /** The loops of one nest (a plan node's direct scans), times those of its correlated subqueries. */
  const nest = (id: number): { product: number; labels: string[] } => {
    let product = 1;
    const labels: string[] = [];
    for (const step of children.get(id) ?? []) {
      const loop = loopOf(step.detail);
      if (loop) {
        product *= Math.max(1, loop.rows);
        labels.push(loop.label);
      }
    }
    for (const step of children.get(id) ?? []) {
      if (!CORRELATED.test(step.detail)) continue;
      const inner = nest(step.id); // runs once per row of the loops around it
      product *= inner.product;
      labels.push(...inner.labels.map((l) => `${l} per row, correlated`));
    }
    return { product, labels };
  };

  for (const id of new Set([0, ...plan.map((s) => s.id)])) {
    if (id !== 0 && !children.has(id)) continue;
    const step = plan.find((s) => s.id === id);
    if (step && CORRELATED.test(step.detail)) continue; // counted with the nest around it
    const { product, labels } = nest(id);
    if (labels.length > 1 && product > budget) {
      throw new LakehouseError(
        "query_too_large",
        `sql: the query scans ${labels.join(" × ")} in nested loops ≈ ${product.toExponential(2)} row combinations, over the budget [queryd].max_join_rows = ${budget}; ` +
          "join the sources on equal keys (a = b), filter them before they meet, or raise the key. A CTE or subquery counts with its own estimate " +
          "(its LIMIT, when it has a literal one), so moving a table into one does not get past this",
        { status: 400 },
      );
    }
  }
}

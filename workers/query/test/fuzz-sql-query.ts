// The differential SQL fuzzer's statements (issue #21), drawn in the columnar fast path's
// grammar (workers/query/src/columnar*.ts: the planner's header) so most of them take it:
// filters (AND of comparisons, IS [NOT] NULL), GROUP BY plain or derived keys (substr,
// strftime, date, ... of a text, date or timestamp column), HAVING on every aggregate over every
// type, COUNT(DISTINCT), top-N with ORDER BY … ASC|DESC NULLS FIRST|LAST LIMIT n OFFSET m, and
// joins of t and u on a key. A few draws step outside it (a literal of the other type, keys of
// different kinds, a column past 2^53) so the fallback is exercised too. Each statement says how
// its answer may be compared: as a sequence (ORDER BY fixes the order up to identical rows), in
// runs of equal ORDER BY keys, or as a multiset.
import fc from "fast-check";
import { type ColumnSpec, T_COLUMNS, U_COLUMNS } from "./fuzz-sql-data";
import { EXCLUDED } from "./fuzz-sql-known";

export type AggFn = "count" | "sum" | "avg" | "min" | "max";

export interface Statement {
  sql: string;
  /** "sequence": compare rows in order; "runs": rows with equal ORDER BY outputs as multisets, runs in order; "multiset" */
  order: "sequence" | "runs" | "multiset";
  /** the ORDER BY outputs (runs only) */
  orderOutputs: number[];
  /** per output: the aggregate it is, if any (sum / avg: floats compared within 1e-12 relative) */
  aggs: (AggFn | null)[];
}

interface Key {
  side: "t" | "u";
  col: ColumnSpec;
  /** a derived key: `$` stands for the column */
  fx: string | null;
}

const DERIVED: Partial<Record<ColumnSpec["type"], string[]>> = {
  string: [
    "substr($, 1, 1)",
    "upper($)",
    "lower($)",
    "length($)",
    "trim($)",
    "abs($)",
    "coalesce($, 'zz')",
    "nullif($, 'a')",
    "instr($, 'b')",
    "hex($)",
    "replace($, 'a', 'é')",
    "round($)",
    "substr($, 2)",
  ],
  date: [
    "substr($, 1, 4)",
    "strftime('%m', $)",
    "date($, '+1 day')",
    "julianday($)",
    "unixepoch($)",
    "strftime('%Y-%W', $)",
  ],
  timestamp: [
    "strftime('%Y-%m', $)",
    "date($)",
    "strftime('%H', $)",
    "substr($, 1, 13)",
    "time($)",
    "unixepoch($)",
    "julianday($)",
    "strftime('%f', $)",
    "unixepoch($, 'subsec')",
  ],
};

/** derived keys whose values are numbers (or NULL) */
const NUMERIC_FX = new Set([
  "length($)",
  "abs($)",
  "instr($, 'b')",
  "round($)",
  "julianday($)",
  "unixepoch($)",
  "unixepoch($, 'subsec')",
]);

const LITERALS: Record<ColumnSpec["type"], string[]> = {
  int64: ["0", "1", "2", "-1", "-3", "4", "3", "9007199254740991", "4503599627370496", "2.5"],
  float64: ["0", "0.5", "-1.5", "2.25", "1e300", "-0.0", "3", "0.30000000000000004", "-1e300"],
  bool: ["0", "1"],
  string: ["''", "'a'", "'B'", "'é'", "'ab'", "'abc'", "'k1'", "'K1'", "' a'", "'b'"],
  date: ["'2024-01-01'", "'1970-01-01'", "'2000-01-01'", "'1900-06-01'", "'2100-01-01'"],
  timestamp: [
    "'2024-01-01 00:00:00'",
    "'2024-01-01 00:00:00.001'",
    "'1970-01-01'",
    "'2024-01-01 01:00:00'",
    "'2024-01-01 00:00:00.0005'",
  ],
};
/** text that looks like a number: against a column SQLite may apply numeric affinity (the columnar path gives way) */
const NUMERIC_TEXT = ["'5'", "'1e999'", "'2000'", "'2024'", "'-1.5'"];
const NUMBERS = [
  "0",
  "1",
  "2",
  "3",
  "5",
  "-1",
  "2.5",
  "1e15",
  "9007199254740992",
  "-9007199254740991",
  "0.5",
];
const OPS = ["=", "<>", "<", "<=", ">", ">=", "==", "!="];
/** output names equal to a column's name (the answer must be typed by the expression, not the name) */
const CLASHING = ["b", "ts", "d", "f", "i", "s", "k"];

const isTextual = (c: ColumnSpec) =>
  c.type === "string" || c.type === "date" || c.type === "timestamp";

function columnArb(
  columns: ColumnSpec[],
  side: "t" | "u",
): fc.Arbitrary<{ side: "t" | "u"; col: ColumnSpec }> {
  const common = columns.filter((c) => !c.rare);
  const rare = columns.filter((c) => c.rare);
  const arbs = [{ weight: 100, arbitrary: fc.constantFrom(...common) }];
  if (rare.length) arbs.push({ weight: 1, arbitrary: fc.constantFrom(...rare) });
  return fc.oneof(...arbs).map((col) => ({ side, col }));
}

function keyArb(join: boolean): fc.Arbitrary<Key> {
  const col = join
    ? fc.oneof(columnArb(T_COLUMNS, "t"), columnArb(U_COLUMNS, "u"))
    : columnArb(T_COLUMNS, "t");
  return fc.oneof(
    { weight: 3, arbitrary: col.map((c) => ({ ...c, fx: null })) },
    {
      weight: 2,
      arbitrary: col
        .filter((c) => isTextual(c.col))
        .chain((c) => fc.constantFrom(...DERIVED[c.col.type]!).map((fx) => ({ ...c, fx }))),
    },
  );
}

function render(k: Key, qualify: boolean): string {
  const ref = qualify ? `${k.side}.${k.col.name}` : k.col.name;
  return k.fx === null ? ref : k.fx.replace("$", ref);
}

function condArb(join: boolean): fc.Arbitrary<(q: boolean) => string> {
  const col = join
    ? fc.oneof(columnArb(T_COLUMNS, "t"), columnArb(U_COLUMNS, "u"))
    : columnArb(T_COLUMNS, "t");
  return fc
    .tuple(col, fc.nat(99), fc.constantFrom(...OPS), fc.nat(99), fc.boolean())
    .map(([c, pick, op, kind, crossed]) => {
      const key: Key = { ...c, fx: null };
      if (kind < 15) return (q: boolean) => `${render(key, q)} IS ${kind < 7 ? "NOT " : ""}NULL`;
      // a literal of the column's type, or now and then of another (SQLite's affinity rules decide)
      const pool =
        crossed && pick < 15
          ? isTextual(c.col)
            ? pick < 8
              ? NUMERIC_TEXT
              : LITERALS.int64
            : LITERALS.string
          : LITERALS[c.col.type];
      const lit = pool[pick % pool.length]!;
      return (q: boolean) => `${render(key, q)} ${op} ${lit}`;
    });
}

interface AggDef {
  fn: AggFn;
  distinct: boolean;
  arg: Key | null;
}

/** integer columns holding values near 2^53 */
const NEAR_2_53 = new Set(["t.big", "u.v"]);

function aggArb(join: boolean, having = false): fc.Arbitrary<AggDef> {
  return fc
    .tuple(
      fc.constantFrom<AggFn | "count*" | "countd">(
        "count*",
        "count",
        "countd",
        "sum",
        "avg",
        "min",
        "max",
        "sum",
        "max",
      ),
      keyArb(join),
    )
    .map(([fn, arg]): AggDef => {
      if (fn === "count*") return { fn: "count", distinct: false, arg: null };
      if (fn === "countd") return { fn: "count", distinct: true, arg };
      return { fn, distinct: false, arg };
    })
    .filter((a) => {
      if (!a.arg || a.fn === "count") return true;
      // sum/avg of text goes to SQLite (its text-to-number rules): mostly numbers then, now and then text
      if (
        (a.fn === "sum" || a.fn === "avg") &&
        (a.arg.fx === null ? isTextual(a.arg.col) : !NUMERIC_FX.has(a.arg.fx)) &&
        a.arg.col.name.length % 4 !== 0
      )
        return false;
      if (
        EXCLUDED.has("partial-sum-2^53") &&
        (a.fn === "sum" || a.fn === "avg") &&
        NEAR_2_53.has(`${a.arg.side}.${a.arg.col.name}`)
      )
        return false;
      // min/max of text (a text column, or any function of one: its value may be text)
      if (
        having &&
        EXCLUDED.has("having-text") &&
        (a.fn === "min" || a.fn === "max") &&
        (isTextual(a.arg.col) || a.arg.fx !== null)
      )
        return false;
      return true;
    });
}

const renderAgg = (a: AggDef, q: boolean) =>
  a.arg === null ? "count(*)" : `${a.fn}(${a.distinct ? "DISTINCT " : ""}${render(a.arg, q)})`;

/** An output's name: none (SQLite names it by its text), c<n>, or a column's name. */
const aliasArb = fc
  .nat(19)
  .map((n) =>
    n < 8 ? null : n < 17 || EXCLUDED.has("type-by-name") ? "c" : CLASHING[n % CLASHING.length]!,
  );

const orderKeyArb = fc.record({
  out: fc.nat(9),
  desc: fc.boolean(),
  nulls: fc.constantFrom("", "", " NULLS FIRST", " NULLS LAST"),
  byAlias: fc.boolean(),
});

function orderClause(
  keys: { out: number; desc: boolean; nulls: string; byAlias: boolean }[],
  names: (string | null)[],
  tiebreak: boolean,
): { text: string; outs: number[] } {
  const parts: string[] = [];
  const outs: number[] = [];
  for (const k of keys) {
    const out = k.out % names.length;
    const name = names[out];
    // by an alias only when it is unique and no column's name (else SQLite and the planner may each resolve it their way)
    const ref =
      k.byAlias && name && name.startsWith("c") && name.length > 1 ? name : String(out + 1);
    parts.push(`${ref}${k.desc ? " DESC" : ""}${k.nulls}`);
    outs.push(out);
  }
  if (tiebreak) for (let o = 0; o < names.length; o++) parts.push(String(o + 1));
  return { text: parts.length ? ` ORDER BY ${parts.join(", ")}` : "", outs };
}

const JOINS: [string, string][] = [
  ["t.k", "u.k"],
  ["t.ks", "u.ks"],
  ["t.i", "u.k"],
  ["u.k", "t.k"],
  ["t.s", "u.name"],
  ["t.k", "u.ks"],
  ["t.big", "u.v"],
];

/** SELECT keys…, aggregates… FROM t [JOIN u ON …] [WHERE …] [GROUP BY …] [HAVING …] [ORDER BY …] [LIMIT …] */
const aggregateArb: fc.Arbitrary<Statement> = fc.boolean().chain((joinDraw) => {
  const join = joinDraw;
  return fc
    .record({
      joinOn: fc.nat(JOINS.length - 1).map((n) => (n < 4 ? n % 2 : n)), // mostly the integer and text key joins
      qualify: fc.boolean(),
      // two GROUP BY keys: the columnar path groups by one number, or by any number of text keys
      groupKeys: fc
        .uniqueArray(keyArb(join), { maxLength: 2, selector: (k) => render(k, true) })
        .filter(
          (ks) =>
            ks.length < 2 ||
            ks.every((k) => k.fx !== null || isTextual(k.col)) ||
            ks[0]!.col.name === "b",
        ),
      selectKey: fc.array(fc.nat(3), { minLength: 2, maxLength: 2 }),
      groupStyle: fc.array(fc.nat(2), { minLength: 2, maxLength: 2 }),
      aggs: fc.array(aggArb(join), { minLength: 1, maxLength: 3 }),
      aliases: fc.array(aliasArb, { minLength: 5, maxLength: 5 }),
      aggsFirst: fc.nat(4),
      where: fc.array(condArb(join), { maxLength: 3 }),
      having: fc.array(
        fc.tuple(
          aggArb(join, true),
          fc.constantFrom(...OPS),
          fc.constantFrom(...NUMBERS),
          fc.nat(3),
        ),
        { maxLength: 2 },
      ),
      order: fc.array(orderKeyArb, { maxLength: 3 }),
      tiebreak: fc.boolean(),
      limit: fc.option(fc.tuple(fc.nat(8), fc.option(fc.nat(3), { freq: 3 })), { freq: 2 }),
    })
    .map((r) => {
      const q = join || r.qualify;
      const selectedKeys = r.groupKeys.filter((_k, n) => r.selectKey[n]! > 0);
      type Out = { text: string; agg: AggDef | null; key: Key | null };
      let outs: Out[] = [
        ...selectedKeys.map((k) => ({ text: render(k, q), agg: null, key: k })),
        ...r.aggs.map((a) => ({ text: renderAgg(a, q), agg: a, key: null })),
      ];
      if (r.aggsFirst === 0)
        outs = [...outs.slice(selectedKeys.length), ...outs.slice(0, selectedKeys.length)];
      const used = new Set<string>();
      const names = outs.map((o, n) => {
        const a = r.aliases[n];
        if (a === null || a === undefined) return null;
        const name = a === "c" ? `c${n}` : a;
        if (used.has(name)) return null;
        used.add(name);
        return name;
      });
      const select = outs
        .map((o, n) => (names[n] ? `${o.text} AS ${names[n]}` : o.text))
        .join(", ");
      const from = join
        ? ` FROM t JOIN u ON ${JOINS[r.joinOn]![0]} = ${JOINS[r.joinOn]![1]}`
        : " FROM t";
      const where = r.where.length ? ` WHERE ${r.where.map((c) => c(q)).join(" AND ")}` : "";
      const group = r.groupKeys.length
        ? ` GROUP BY ${r.groupKeys
            .map((k, n) => {
              const out = outs.findIndex((o) => o.key === k);
              if (out >= 0 && r.groupStyle[n] === 1) return String(out + 1);
              if (
                out >= 0 &&
                r.groupStyle[n] === 2 &&
                names[out]?.startsWith("c") &&
                names[out]!.length > 1
              )
                return names[out]!;
              return render(k, q);
            })
            .join(", ")}`
        : "";
      const having =
        r.groupKeys.length && r.having.length
          ? ` HAVING ${r.having.map(([a, op, num]) => `${renderAgg(a, q)} ${op} ${num}`).join(" AND ")}`
          : "";
      const ordered = r.order.length > 0 || (r.limit !== null && r.tiebreak);
      const tiebreak = ordered && (r.tiebreak || r.limit !== null);
      const ord = ordered ? orderClause(r.order, names, tiebreak) : { text: "", outs: [] };
      // LIMIT only under an ORDER BY that fixes which rows it keeps
      const limit =
        ordered && r.limit
          ? ` LIMIT ${r.limit[0]}${r.limit[1] !== null ? ` OFFSET ${r.limit[1]}` : ""}`
          : "";
      const statement: Statement = {
        sql: `SELECT ${select}${from}${where}${group}${having}${ord.text}${limit}`,
        order: !ordered ? "multiset" : tiebreak ? "sequence" : "runs",
        orderOutputs: ord.outs,
        aggs: outs.map((o) => o.agg?.fn ?? null),
      };
      return statement;
    });
});

/** SELECT keys… FROM t [WHERE …] ORDER BY … LIMIT n [OFFSET m]: the top-N scan. */
const topArb: fc.Arbitrary<Statement> = fc
  .record({
    qualify: fc.boolean(),
    items: fc.array(keyArb(false), { minLength: 1, maxLength: 3 }),
    aliases: fc.array(aliasArb, { minLength: 3, maxLength: 3 }),
    where: fc.array(condArb(false), { maxLength: 3 }),
    order: fc.array(
      fc.record({ hidden: fc.option(keyArb(false), { freq: 3 }), key: orderKeyArb }),
      { minLength: 1, maxLength: 3 },
    ),
    limit: fc.nat(12),
    offset: fc.option(fc.nat(3), { freq: 3 }),
  })
  .map((r) => {
    const q = r.qualify;
    const used = new Set<string>();
    const names = r.items.map((_k, n) => {
      const a = r.aliases[n];
      if (a === null || a === undefined) return null;
      const name = a === "c" ? `c${n}` : a;
      if (used.has(name)) return null;
      used.add(name);
      return name;
    });
    const select = r.items
      .map((k, n) => (names[n] ? `${render(k, q)} AS ${names[n]}` : render(k, q)))
      .join(", ");
    const where = r.where.length ? ` WHERE ${r.where.map((c) => c(q)).join(" AND ")}` : "";
    const parts: string[] = [];
    for (const o of r.order) {
      const dir = `${o.key.desc ? " DESC" : ""}${o.key.nulls}`;
      if (o.hidden) parts.push(`${render(o.hidden, q)}${dir}`);
      else {
        const out = o.key.out % r.items.length;
        const name = names[out];
        parts.push(
          `${o.key.byAlias && name && name.startsWith("c") && name.length > 1 ? name : String(out + 1)}${dir}`,
        );
      }
    }
    // the outputs break every tie: rows the ORDER BY cannot tell apart are then identical
    for (let o = 0; o < r.items.length; o++) parts.push(String(o + 1));
    const statement: Statement = {
      sql: `SELECT ${select} FROM t${where} ORDER BY ${parts.join(", ")} LIMIT ${r.limit}${r.offset !== null ? ` OFFSET ${r.offset}` : ""}`,
      order: "sequence",
      orderOutputs: [],
      aggs: r.items.map(() => null),
    };
    return statement;
  });

export const statementArb: fc.Arbitrary<Statement> = fc.oneof(
  { weight: 3, arbitrary: aggregateArb },
  { weight: 1, arbitrary: topArb },
);

// The relevance filter of POST /matrix/relevance: scores retrieved chunks against the file an
// agent is working on (DESIGN §6 Matrix). Symbols the focus file defines and imports are
// extracted from its content (Rust, TypeScript/JavaScript, Go, Python); each chunk scores
// the sum of the signals that fire:
//   path match +1.0 · file name +0.6 · defined symbol +0.6 · token overlap +0.4 × Jaccard ·
//   shared two-segment path prefix +0.3 · mentions only imported symbols −0.5.

export interface FocusFile {
  path: string;
  content: string;
}

export interface Chunk {
  source: string;
  text: string;
  [key: string]: unknown;
}

export interface Scored extends Chunk {
  score: number;
  signals: string[];
}

const STOP = new Set(
  (
    "a an and are as at be but by for from has have if in into is it its of on or that the this to was were will with not no " +
    "fn func def function let const var mut pub use import export return self this new class struct impl type interface package " +
    "true false null nil none some string int i32 i64 u32 u64 usize bool void async await"
  ).split(" "),
);

function lang(path: string): "rust" | "ts" | "go" | "py" | "other" {
  if (/\.rs$/.test(path)) return "rust";
  if (/\.(m|c)?[jt]sx?$/.test(path)) return "ts";
  if (/\.go$/.test(path)) return "go";
  if (/\.py$/.test(path)) return "py";
  return "other";
}

function all(re: RegExp, text: string, group = 1): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(re)) if (m[group]) out.push(m[group]!);
  return out;
}

function splitNames(list: string): string[] {
  return list
    .split(",")
    .map((s) =>
      s
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()!
        .trim(),
    )
    .map((s) => s.replace(/[{}*\s]/g, ""))
    .filter((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && s !== "self");
}

/** The symbols a source file defines and the ones it imports. */
export function extractSymbols(
  path: string,
  content: string,
): { defined: Set<string>; imported: Set<string> } {
  const defined = new Set<string>();
  const imported = new Set<string>();
  const l = lang(path);
  const def = (names: string[]) => {
    for (const n of names) if (n.length > 1) defined.add(n);
  };
  const imp = (names: string[]) => {
    for (const n of names) if (n.length > 1) imported.add(n);
  };
  if (l === "rust") {
    def(
      all(
        /\b(?:fn|struct|enum|trait|type|mod|const|static|union|macro_rules!)\s+([A-Za-z_][A-Za-z0-9_]*)/g,
        content,
      ),
    );
    for (const m of content.matchAll(/\buse\s+([^;]+);/g)) {
      const body = m[1]!;
      const braces = body.match(/\{([^}]*)\}/);
      if (braces) imp(splitNames(braces[1]!));
      else
        imp([
          body
            .split("::")
            .pop()!
            .split(/\s+as\s+/)
            .pop()!
            .trim(),
        ]);
    }
  } else if (l === "ts") {
    def(
      all(
        /\b(?:function\*?|class|interface|type|enum|const|let|var)\s+([A-Za-z_$][A-Za-z0-9_$]*)/g,
        content,
      ),
    );
    for (const m of content.matchAll(/\bimport\s+(?:type\s+)?([^;]*?)\s+from\s+["'][^"']+["']/g)) {
      const spec = m[1]!;
      const braces = spec.match(/\{([^}]*)\}/);
      if (braces) imp(splitNames(braces[1]!));
      const head = spec
        .replace(/\{[^}]*\}/, "")
        .replace(/\*\s+as\s+/, "")
        .split(",")[0]!
        .trim();
      if (head) imp([head]);
    }
    for (const m of content.matchAll(/\b(?:const|let|var)\s+\{([^}]*)\}\s*=\s*require\(/g))
      imp(splitNames(m[1]!));
  } else if (l === "go") {
    def(all(/\bfunc\s+(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)/g, content));
    def(all(/\btype\s+([A-Za-z_][A-Za-z0-9_]*)/g, content));
    def(all(/^\s*(?:var|const)\s+([A-Za-z_][A-Za-z0-9_]*)/gm, content));
    const blocks =
      [...content.matchAll(/\bimport\s*\(([^)]*)\)/g)].map((m) => m[1]!).join("\n") +
      "\n" +
      all(/\bimport\s+((?:\w+\s+)?"[^"]+")/g, content).join("\n");
    for (const m of blocks.matchAll(/(?:(\w+)\s+)?"([^"]+)"/g))
      imp([m[1] ?? m[2]!.split("/").pop()!]);
  } else if (l === "py") {
    def(all(/^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)/gm, content));
    def(all(/^([A-Za-z_][A-Za-z0-9_]*)\s*=/gm, content));
    for (const m of content.matchAll(/^\s*from\s+[\w.]+\s+import\s+\(?([^)\n]+)\)?/gm))
      imp(splitNames(m[1]!));
    for (const m of content.matchAll(/^\s*import\s+([\w., ]+)/gm))
      imp(
        m[1]!.split(",").map(
          (s) =>
            s
              .trim()
              .split(/\s+as\s+/)
              .pop()!
              .split(".")
              .pop()!,
        ),
      );
  } else {
    def(all(/\b(?:function|def|fn|func|class|struct)\s+([A-Za-z_][A-Za-z0-9_]*)/g, content));
  }
  for (const d of defined) imported.delete(d);
  return { defined, imported };
}

function tokens(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.toLowerCase().matchAll(/[a-z_][a-z0-9_]{1,}/g))
    if (!STOP.has(m[0])) out.add(m[0]);
  return out;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

function mentions(text: string, symbol: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_$])${symbol.replace(/[$]/g, "\\$")}([^A-Za-z0-9_$]|$)`).test(
    text,
  );
}

function normPath(p: string): string {
  return p.replace(/\\/g, "/").replace(/^\.?\//, "");
}

function dirPrefix(p: string): string | undefined {
  const segs = normPath(p).split("/").slice(0, -1);
  return segs.length >= 2 ? `${segs[0]}/${segs[1]}` : undefined;
}

/** Scores every chunk; those at or above `threshold` are kept, in the order given. */
export function scoreChunks(
  focus: FocusFile,
  chunks: Chunk[],
  threshold: number,
): { kept: Scored[]; dropped: Scored[] } {
  const { defined, imported } = extractSymbols(focus.path, focus.content);
  const focusPath = normPath(focus.path);
  const fileName = focusPath.split("/").pop()!;
  const stem = fileName.replace(/\.[^.]+$/, "");
  const focusTokens = tokens(focus.content);
  const focusPrefix = dirPrefix(focusPath);
  const kept: Scored[] = [];
  const dropped: Scored[] = [];
  for (const chunk of chunks) {
    const signals: string[] = [];
    let score = 0;
    const src = normPath(chunk.source);
    if (
      src === focusPath ||
      src.endsWith(`/${focusPath}`) ||
      focusPath.endsWith(`/${src}`) ||
      chunk.text.includes(focusPath)
    ) {
      score += 1.0;
      signals.push("path_match");
    }
    if (
      fileName &&
      (chunk.text.includes(fileName) ||
        (stem.length > 2 &&
          src
            .split("/")
            .pop()!
            .replace(/\.[^.]+$/, "") === stem))
    ) {
      score += 0.6;
      signals.push("file_name");
    }
    const definedHit = [...defined].some((s) => mentions(chunk.text, s));
    if (definedHit) {
      score += 0.6;
      signals.push("defined_symbol");
    }
    const j = jaccard(focusTokens, tokens(chunk.text));
    if (j > 0) {
      score += 0.4 * j;
      signals.push(`token_overlap:${j.toFixed(3)}`);
    }
    const prefix = dirPrefix(src);
    if (focusPrefix && prefix === focusPrefix) {
      score += 0.3;
      signals.push("path_prefix");
    }
    if (!definedHit && [...imported].some((s) => mentions(chunk.text, s))) {
      score -= 0.5;
      signals.push("only_imported_symbols");
    }
    const scored: Scored = { ...chunk, score: Math.round(score * 1000) / 1000, signals };
    (score >= threshold ? kept : dropped).push(scored);
  }
  return { kept, dropped };
}

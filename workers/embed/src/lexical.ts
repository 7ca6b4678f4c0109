// The `local` embedding provider: a deterministic, offline, lexical embedder. It is NOT a
// language model: a text becomes the signed feature-hashing of its lower-cased words
// (weight 1) and of each word's character trigrams with boundary marks (weight 0.5 spread
// over the word's trigrams), with sublinear term frequency (1 + ln tf), L2-normalised.
// Texts that share words or word pieces are close; synonyms are not. See docs/embeddings.md.

const WORD = /[\p{L}\p{N}_]+/gu;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TRIGRAM_WEIGHT = 0.5;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnv(s: string, start: number, end: number, seed: number): number {
  let h = FNV_OFFSET ^ seed;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** Embeds one text into `dimension` floats (L2 norm 1). Throws nothing; an empty text must be rejected by the caller. */
export function lexicalEmbed(text: string, dimension: number): Float32Array {
  const counts = new Map<number, number>(); // feature hash → weight sum (tf)
  const add = (h: number, w: number) => counts.set(h, (counts.get(h) ?? 0) + w);
  const lower = text.normalize("NFKC").toLowerCase();
  let words = 0;
  for (const m of lower.matchAll(WORD)) {
    const w = m[0];
    words++;
    add(fnv(w, 0, w.length, 0x9e3779b9), 1);
    const padded = `^${w}$`;
    const n = padded.length - 2;
    const share = TRIGRAM_WEIGHT / n;
    for (let i = 0; i < n; i++) add(fnv(padded, i, i + 3, 0x7f4a7c15), share);
  }
  if (words === 0) add(fnv(lower.trim(), 0, lower.trim().length, 0x1b873593), 1);
  const v = new Float32Array(dimension);
  for (const [h, tf] of counts) {
    const mixed = fmix(h);
    const idx = mixed % dimension;
    const sign = (fmix(mixed ^ 0x5bd1e995) & 1) === 0 ? 1 : -1;
    v[idx]! += sign * (tf >= 1 ? 1 + Math.log(tf) : tf);
  }
  let s = 0;
  for (let i = 0; i < dimension; i++) s += v[i]! * v[i]!;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < dimension; i++) v[i] = v[i]! / norm;
  else v[fmix(words) % dimension] = 1; // hash collisions cancelled everything out: still a unit vector
  return v;
}

/**
 * Shapes with symbolic dimensions. A dimension is a number, a symbol shared
 * across the graph (the same symbol means the same size wherever it appears),
 * or null when nothing is known about it.
 */
export type Dim = number | string | null;
export type Shape = readonly Dim[];

/** The symbols the graph I/O convention of DESIGN.md uses; any other string is a symbol too. */
export const Sym = {
  batch: "batch",
  sequence: "sequence",
  pastSequence: "past_sequence",
  totalSequence: "total_sequence",
} as const;

/** "[batch, 4, ?]", or "unknown" for an unknown shape. */
export function formatShape(shape: Shape | undefined): string {
  if (shape === undefined) return "unknown";
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

/** True when two dimensions cannot be the same size: two different numbers. */
export function dimsConflict(a: Dim, b: Dim): boolean {
  return typeof a === "number" && typeof b === "number" && a !== b;
}

/** True when every dimension of both is known and they are the same (symbols by name). */
export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d !== null && d === b[i]);
}

/** Where two shapes certainly disagree (rank, or two different numbers), a sentence saying how; else null. */
export function shapeConflict(a: Shape, b: Shape): string | null {
  if (a.length !== b.length) return `rank ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (dimsConflict(a[i]!, b[i]!)) return `dimension ${i} is ${a[i]} vs ${b[i]}`;
  }
  return null;
}

/** The more specific of two shapes that do not conflict, dimension by dimension (numbers over symbols over unknown). */
export function mergeShapes(a: Shape, b: Shape): Shape {
  return a.map((d, i) => {
    const e = b[i]!;
    if (typeof d === "number") return d;
    if (typeof e === "number") return e;
    return d ?? e;
  });
}

/** The shape as plain numbers if every dimension is a number. */
export function staticShape(shape: Shape | undefined): number[] | null {
  if (shape === undefined || !shape.every((d): d is number => typeof d === "number")) return null;
  return [...shape];
}

function broadcastDim(a: Dim, b: Dim): Dim | undefined {
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === "number" && typeof b === "number") return a === b ? a : undefined;
  // One side a number other than 1: the other is 1 or the same number, so the result is that number.
  if (typeof a === "number") return a;
  if (typeof b === "number") return b;
  if (a !== null && a === b) return a;
  return null;
}

/** Numpy-style multidirectional broadcasting; a string naming the conflict when the shapes cannot broadcast. */
export function broadcastShapes(shapes: readonly Shape[]): Shape | string {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i];
      if (d === undefined) continue;
      const next = broadcastDim(dim, d);
      if (next === undefined) {
        return `cannot broadcast ${shapes.map(formatShape).join(" with ")}: dimension ${i - rank} is ${dim} vs ${d}`;
      }
      dim = next;
    }
    out.push(dim);
  }
  return out;
}

/**
 * sentencepiece's BPE encoder (bpe::Model::SampleEncode without dropout).
 *
 * Start from single characters (a user-defined symbol is one frozen unit),
 * then repeatedly merge the adjacent pair whose concatenation is a piece
 * with the HIGHEST score, the leftmost pair on a tie. Merges are therefore
 * ordered by piece score, not by id or by a merges list (why a conversion to
 * a merges list must sort by score). An unused piece may be formed on the
 * way but never output: it is split back into the two parts that made it.
 */
import type { Vocab } from "./vocab.js";

/** One piece of the output: bytes [start, end) of the normalized text, and its id (the unknown id when it is no piece). */
export interface EncodedPiece {
  start: number;
  end: number;
  id: number;
}

interface Pair {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** Max-heap of candidate merges: highest score first, then the leftmost. */
class Agenda {
  private readonly heap: Pair[] = [];

  get size(): number {
    return this.heap.length;
  }

  private before(a: Pair, b: Pair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(pair: Pair): void {
    const heap = this.heap;
    heap.push(pair);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i] as Pair, heap[parent] as Pair)) break;
      const t = heap[i] as Pair;
      heap[i] = heap[parent] as Pair;
      heap[parent] = t;
      i = parent;
    }
  }

  pop(): Pair {
    const heap = this.heap;
    const top = heap[0] as Pair;
    const last = heap.pop() as Pair;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && this.before(heap[l] as Pair, heap[best] as Pair)) best = l;
        if (r < heap.length && this.before(heap[r] as Pair, heap[best] as Pair)) best = r;
        if (best === i) break;
        const t = heap[i] as Pair;
        heap[i] = heap[best] as Pair;
        heap[best] = t;
        i = best;
      }
    }
    return top;
  }
}

/** Encodes normalized text (a byte string) into pieces. */
export function encodeBpe(normalized: string, vocab: Vocab): EncodedPiece[] {
  if (normalized.length === 0) return [];
  // Symbols as byte ranges, linked as a list; a merged-away symbol has length 0.
  const start: number[] = [];
  const length: number[] = [];
  const frozen: boolean[] = [];
  const prev: number[] = [];
  const next: number[] = [];
  for (let pos = 0; pos < normalized.length; ) {
    const m = vocab.userDefined.match(normalized, pos);
    const index = start.length;
    start.push(pos);
    length.push(m.length);
    frozen.push(m.found);
    prev.push(index - 1);
    pos += m.length;
    next.push(pos < normalized.length ? index + 1 : -1);
  }

  const agenda = new Agenda();
  // For unused pieces formed by a merge: the two parts they came from.
  const unmerge = new Map<string, [string, string]>();
  const maybeAddPair = (left: number, right: number): void => {
    if (left === -1 || right === -1 || frozen[left] || frozen[right]) return;
    const size = (length[left] as number) + (length[right] as number);
    const s = start[left] as number;
    const piece = normalized.slice(s, s + size);
    const id = vocab.encodable.get(piece);
    if (id === undefined) return;
    const p = vocab.pieces[id]!;
    agenda.push({ left, right, score: p.score, size });
    if (p.type === "unused") {
      unmerge.set(piece, [normalized.slice(s, s + (length[left] as number)), normalized.slice(start[right] as number, (start[right] as number) + (length[right] as number))]);
    }
  };
  for (let i = 1; i < start.length; i++) maybeAddPair(i - 1, i);

  while (agenda.size > 0) {
    const top = agenda.pop();
    const { left, right } = top;
    // A stale candidate: one side was merged away or grew since it was queued.
    if (length[left] === 0 || length[right] === 0 || (length[left] as number) + (length[right] as number) !== top.size) continue;
    length[left] = top.size;
    next[left] = next[right] as number;
    if ((next[right] as number) >= 0) prev[next[right] as number] = left;
    length[right] = 0;
    maybeAddPair(prev[left] as number, left);
    maybeAddPair(left, next[left] as number);
  }

  const out: EncodedPiece[] = [];
  const resegment = (s: number, piece: string): void => {
    const id = vocab.idOf(piece);
    const parts = vocab.pieces[id]!.type === "unused" ? unmerge.get(piece) : undefined;
    if (parts === undefined) {
      out.push({ start: s, end: s + piece.length, id });
      return;
    }
    resegment(s, parts[0]);
    resegment(s + parts[0].length, parts[1]);
  };
  for (let i = 0; i !== -1; i = next[i] as number) {
    const s = start[i] as number;
    resegment(s, normalized.slice(s, s + (length[i] as number)));
  }
  return out;
}

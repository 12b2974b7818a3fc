import type { LogitsProcessor } from "./logits-processor.js";

/**
 * Keeps the `k` largest logits and sets the rest to -Infinity. Tokens tied
 * with the k-th largest logit are all kept (as in Hugging Face and PaddleNLP,
 * which keep every logit >= the k-th value), so a row may keep more than k.
 *
 * @param k an integer >= 0; 0 turns the filter off (PaddleNLP's `--top_k 0`)
 */
export function topKProcessor(k: number): LogitsProcessor {
  if (!(Number.isInteger(k) && k >= 0)) {
    throw new Error(`top_k must be an integer >= 0 (0 turns it off), got ${k}`);
  }
  return (logits) => {
    if (k === 0 || k >= logits.length) return;
    const threshold = kthLargest(logits, k);
    for (let i = 0; i < logits.length; i++) {
      if (logits[i]! < threshold) logits[i] = -Infinity;
    }
  };
}

/** The k-th largest value of `values` (1 <= k <= length), by a min-heap of size k. */
function kthLargest(values: Float32Array, k: number): number {
  const heap = new Float32Array(k); // [k] min-heap of the largest values seen
  for (let i = 0; i < k; i++) siftUp(heap, i, values[i]!);
  for (let i = k; i < values.length; i++) {
    const x = values[i]!;
    if (x > heap[0]!) siftDown(heap, k, x);
  }
  return heap[0]!;
}

function siftUp(heap: Float32Array, at: number, x: number): void {
  let i = at;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= x) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = x;
}

/** Replaces the root by `x` and restores the heap. */
function siftDown(heap: Float32Array, size: number, x: number): void {
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && heap[right]! < heap[left]! ? right : left;
    if (heap[child]! >= x) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = x;
}

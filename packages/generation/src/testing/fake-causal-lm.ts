/**
 * Test support, never exported: a deterministic CausalLM whose logits are a
 * hash of the sequence's own tokens, and a text stream to go with it. It
 * checks that the scheduler uses it correctly (distinct live sequences per
 * call, no use after release, no release twice, never more positions than
 * the cache allows) and records what it was asked.
 */
import type { CausalLM, ForwardStep, Sequence } from "../causal-lm.js";
import type { TextStream } from "../text-stream.js";

export interface FakeModelOptions {
  /** Default 64. */
  readonly vocabSize?: number;
  /** Default 512. */
  readonly maxPositions?: number;
  /** Default 0. */
  readonly prefixLength?: number;
  /** Cache positions the simulated pool holds, all sequences together; default unlimited. */
  readonly capacity?: number;
  /** Implement allocateSequence (reserve at creation) instead of only canAllocate. */
  readonly reserving?: boolean;
  /** The forward call (0-based) that throws. */
  readonly failOnCall?: number;
  /** A token to raise far above the others, given the tokens so far (prompt + generated). */
  readonly favour?: (tokens: readonly number[]) => number | undefined;
}

interface FakeSequence extends Sequence {
  length: number;
  /** Positions set aside for it. */
  readonly reserved: number;
  /** Tokens fed so far (prefix excluded). */
  readonly tokens: number[];
}

/** One forward call as the model saw it. */
export interface ForwardCall {
  readonly seqIds: readonly number[];
  readonly tokenCounts: readonly number[];
}

export class FakeCausalLM implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly prefixLength: number;
  readonly calls: ForwardCall[] = [];
  /** Ids of released sequences, in release order. */
  readonly released: number[] = [];
  readonly allocateSequence?: (positions: number) => Sequence | null;
  created = 0;
  /** Most positions reserved at once. */
  peakReserved = 0;

  private readonly live = new Map<number, FakeSequence>();
  private readonly capacity: number;
  private readonly options: FakeModelOptions;
  private lastAsked = 0;

  constructor(options: FakeModelOptions = {}) {
    this.options = options;
    this.vocabSize = options.vocabSize ?? 64;
    this.maxPositions = options.maxPositions ?? 512;
    this.prefixLength = options.prefixLength ?? 0;
    this.capacity = options.capacity ?? Infinity;
    if (options.reserving) {
      this.allocateSequence = (positions) => (this.fits(positions) ? this.create(positions) : null);
    }
  }

  get reservedPositions(): number {
    let sum = 0;
    for (const seq of this.live.values()) sum += seq.reserved;
    return sum;
  }

  canAllocate(positions: number): boolean {
    this.lastAsked = positions;
    return this.fits(positions);
  }

  createSequence(): Sequence {
    // A pool that reserves what the last canAllocate asked for, as a careful
    // paged cache without allocateSequence would.
    return this.create(this.lastAsked || this.maxPositions);
  }

  async forward(steps: readonly ForwardStep[]): Promise<Float32Array[]> {
    const callIndex = this.calls.length;
    this.calls.push({ seqIds: steps.map((s) => s.seq.id), tokenCounts: steps.map((s) => s.tokens.length) });
    await new Promise((resolve) => setImmediate(resolve));
    if (callIndex === this.options.failOnCall) throw new Error(`fake forward failure on call ${callIndex}`);
    const ids = new Set<number>();
    return steps.map((step) => {
      const seq = this.live.get(step.seq.id);
      if (seq === undefined) throw new Error(`forward on sequence ${step.seq.id}, which is not live`);
      if (ids.has(seq.id)) throw new Error(`sequence ${seq.id} appears twice in one forward call`);
      ids.add(seq.id);
      if (step.tokens.length === 0) throw new Error(`forward with no tokens for sequence ${seq.id}`);
      if (seq.length + step.tokens.length > Math.min(seq.reserved, this.maxPositions)) {
        throw new Error(`sequence ${seq.id} would hold ${seq.length + step.tokens.length} positions, reserved ${seq.reserved}`);
      }
      const rows = step.logits ?? 1;
      const out = new Float32Array(rows * this.vocabSize);
      for (const token of step.tokens) seq.tokens.push(token);
      seq.length += step.tokens.length;
      for (let r = 0; r < rows; r++) {
        const upTo = seq.tokens.length - rows + 1 + r;
        out.set(fakeLogits(seq.tokens.slice(0, upTo), this.vocabSize, this.options.favour), r * this.vocabSize);
      }
      return out;
    });
  }

  releaseSequence(seq: Sequence): void {
    if (!this.live.delete(seq.id)) throw new Error(`sequence ${seq.id} released twice or never created`);
    this.released.push(seq.id);
  }

  async dispose(): Promise<void> {
    this.live.clear();
  }

  /** Ids of sequences still live. */
  liveIds(): number[] {
    return [...this.live.keys()];
  }

  private fits(positions: number): boolean {
    return this.reservedPositions + positions <= this.capacity;
  }

  private create(reserved: number): FakeSequence {
    const seq: FakeSequence = { id: this.created++, length: this.prefixLength, reserved, tokens: [] };
    this.live.set(seq.id, seq);
    this.peakReserved = Math.max(this.peakReserved, this.reservedPositions);
    return seq;
  }
}

/** The fake's next-token logits after `tokens`: a hash of them, in [-5, 5), plus the favoured token at 20. */
export function fakeLogits(
  tokens: readonly number[],
  vocabSize: number,
  favour?: (tokens: readonly number[]) => number | undefined,
): Float32Array {
  let h = 0x811c9dc5;
  for (const token of tokens) h = mix(h ^ token);
  const logits = new Float32Array(vocabSize);
  for (let v = 0; v < vocabSize; v++) logits[v] = (mix(h ^ mix(v + 0x9e3779b9)) % 1000) / 100 - 5;
  const favoured = favour?.(tokens);
  if (favoured !== undefined) logits[favoured] = 20;
  return logits;
}

/** Greedy continuation of `prompt` straight from fakeLogits, with no scheduler. */
export function fakeGreedy(
  prompt: readonly number[],
  options: { vocabSize?: number; maxNewTokens: number; eosTokenIds?: readonly number[]; favour?: FakeModelOptions["favour"] },
): number[] {
  const tokens = [...prompt];
  const out: number[] = [];
  const eos = new Set(options.eosTokenIds ?? []);
  while (out.length < options.maxNewTokens) {
    const logits = fakeLogits(tokens, options.vocabSize ?? 64, options.favour);
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    if (eos.has(best)) break;
    out.push(best);
    tokens.push(best);
  }
  return out;
}

function mix(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d);
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
  return (z ^ (z >>> 16)) >>> 0;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/**
 * The fake's text: token id -> one letter. Ids ending in 9 are "lead bytes"
 * (upper-case letters) that come out only with the next token, like the
 * first bytes of a UTF-8 character; an unfinished one flushes as U+FFFD.
 * Ids in `special` decode to nothing (skipSpecialTokens).
 */
export function fakeTextStream(special: readonly number[] = []): TextStream {
  let held = "";
  return {
    push: (id) => {
      if (special.includes(id)) return "";
      const piece = fakePiece(id);
      if (id % 10 === 9) {
        held += piece;
        return "";
      }
      const text = held + piece;
      held = "";
      return text;
    },
    flush: () => {
      const text = "\ufffd".repeat(held.length);
      held = "";
      return text;
    },
  };
}

/** What fakeTextStream gives for all of `tokens`, decoded at once. */
export function fakeText(tokens: readonly number[], special: readonly number[] = []): string {
  const stream = fakeTextStream(special);
  return tokens.map((id) => stream.push(id)).join("") + stream.flush();
}

function fakePiece(id: number): string {
  const letter = LETTERS[id % 26]!;
  return id % 10 === 9 ? letter.toUpperCase() : letter;
}

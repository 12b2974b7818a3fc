import type { CausalLM, ForwardStep, Sequence } from "@oar/generation";
import type { CacheEntry, KvCache, PastLayout } from "./kv-cache.js";
import { assertNever } from "@oar/tensor";
import { ATTENTION_MASK, INPUT_IDS, type KvInterface, type KvNames, LOGITS, type Manifest, POSITION_IDS } from "./manifest.js";
import type { Feed, Session } from "./ort.js";
import type { KvArray } from "./prefix.js";

class StaticSequence implements Sequence {
  readonly id: number;
  length: number;
  readonly entry: CacheEntry;

  constructor(id: number, length: number, entry: CacheEntry) {
    this.id = id;
    this.length = length;
    this.entry = entry;
  }
}

/** A step of a forward call with the sequence it belongs to resolved. */
interface Step {
  readonly seq: StaticSequence;
  readonly tokens: readonly number[];
  readonly logits: number;
  /** Index in the call's steps (where its logits go). */
  readonly index: number;
}

/** Where the graph's KV for the cache comes from: the new-KV outputs, or the present outputs (of which the cache keeps the new positions). */
interface KvSource {
  readonly names: KvNames;
  /** Whether the outputs include the past (present) or only the new positions. */
  readonly includesPast: boolean;
}

function kvSource(kv: KvInterface): KvSource {
  switch (kv.io) {
    case "present":
      return { names: kv.present, includesPast: true };
    case "present+new":
    case "blocks":
      return { names: kv.fresh, includesPast: false };
    default:
      return assertNever(kv);
  }
}

/**
 * Prompts of different lengths prefill in one run only while padding stays
 * below this share of a row: a padded position costs as much as a real one.
 */
const PREFILL_PADDING = 0.2;

/**
 * The static model: an exported graph on an onnxruntime session, with the
 * runtime's own KV cache (./kv-cache.ts). A forward call is split into runs
 * of the session: the steps of sequences that hold nothing but the prefix
 * (prompts being prefilled) together, grouped so that left padding stays
 * small; one-token steps of the others together; several-token steps of
 * the others together, or one at a time when the fused attention needs it.
 * Each run feeds input_ids and position_ids left-padded to its longest
 * step, attention_mask over the cache's past width and the new tokens,
 * num_logits_to_keep, and the past; it fetches only the logits and the
 * KV the cache needs, and appends that KV.
 */
export class StaticModel implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly prefixLength: number;
  readonly manifest: Manifest;
  readonly cache: KvCache;
  readonly #session: Session;
  readonly #source: KvSource;
  readonly #live = new Set<StaticSequence>();
  #nextId = 0;
  #disposed = false;

  constructor(manifest: Manifest, session: Session, cache: KvCache) {
    this.manifest = manifest;
    this.#session = session;
    this.cache = cache;
    this.vocabSize = manifest.vocabSize;
    this.maxPositions = manifest.maxPositions;
    this.prefixLength = manifest.prefix?.length ?? 0;
    this.#source = kvSource(manifest.kv);
  }

  createSequence(): Sequence {
    const entry = this.cache.open(null);
    if (entry === null) throw new Error("the KV cache cannot hold another sequence");
    return this.#track(entry);
  }

  allocateSequence(positions: number): Sequence | null {
    const entry = this.cache.open(positions);
    return entry === null ? null : this.#track(entry);
  }

  canAllocate(positions: number): boolean {
    return this.cache.canAllocate(positions);
  }

  releaseSequence(seq: Sequence): void {
    const s = this.#own(seq, "releaseSequence");
    this.cache.close(s.entry);
    this.#live.delete(s);
  }

  /** One line for a log: the graph as exported, the device and the KV cache. */
  get summary(): string {
    const { exported, prefix } = this.manifest;
    const parts = [
      `${exported.inferenceModel ? "fused" : "primitive"} ${exported.dtype} graph${exported.quantType === null ? "" : `, ${exported.quantType}`}`,
      `onnxruntime on ${this.#session.device}`,
      this.cache.describe(),
    ];
    if (prefix !== null) parts.push(`prefix of ${prefix.length} positions`);
    return parts.join(", ");
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#live) this.cache.close(s.entry);
    this.#live.clear();
    await this.#session.release();
  }

  /** Per step, its logits [step.logits ?? 1, vocab]. */
  async forward(steps: readonly ForwardStep[]): Promise<Float32Array[]> {
    const resolved = this.#check(steps);
    this.cache.prepare(resolved.map((s) => ({ entry: s.seq.entry, positions: s.seq.length + s.tokens.length })));
    const out: Float32Array[] = new Array<Float32Array>(steps.length);
    for (const run of this.#runs(resolved)) {
      const logits = await this.#run(run);
      run.forEach((s, i) => (out[s.index] = logits[i]!));
    }
    return out;
  }

  #track(entry: CacheEntry): StaticSequence {
    if (this.#disposed) throw new Error("the model was disposed");
    const s = new StaticSequence(this.#nextId++, this.prefixLength, entry);
    this.#live.add(s);
    return s;
  }

  #own(seq: Sequence, where: string): StaticSequence {
    if (!(seq instanceof StaticSequence) || !this.#live.has(seq)) {
      throw new Error(`${where}: sequence ${seq.id} is not held by this model (released already, or from another model)`);
    }
    return seq;
  }

  #check(steps: readonly ForwardStep[]): Step[] {
    if (this.#disposed) throw new Error("forward: the model was disposed");
    const seen = new Set<StaticSequence>();
    return steps.map((step, index) => {
      const seq = this.#own(step.seq, "forward");
      if (seen.has(seq)) throw new Error(`forward: sequence ${seq.id} appears in two steps of one call`);
      seen.add(seq);
      const n = step.tokens.length;
      if (n === 0) throw new Error(`forward: step ${index} (sequence ${seq.id}) has no tokens`);
      for (const t of step.tokens) {
        if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw new Error(`forward: token id ${t} of step ${index} is outside the vocabulary [0, ${this.vocabSize})`);
      }
      const logits = step.logits ?? 1;
      if (!Number.isInteger(logits) || logits < 1 || logits > n) throw new Error(`forward: step ${index} asks for ${logits} rows of logits; it has ${n} tokens`);
      if (seq.length + n > this.maxPositions) {
        throw new Error(`forward: sequence ${seq.id} would hold ${seq.length + n} positions; the model holds at most ${this.maxPositions}`);
      }
      return { seq, tokens: step.tokens, logits, index };
    });
  }

  /** The session runs of one call (see the class comment). */
  #runs(steps: readonly Step[]): Step[][] {
    const runs: Step[][] = [];
    const fresh = steps.filter((s) => s.seq.length === this.prefixLength);
    const decode = steps.filter((s) => s.seq.length !== this.prefixLength && s.tokens.length === 1);
    const chunks = steps.filter((s) => s.seq.length !== this.prefixLength && s.tokens.length > 1);
    const alone = this.manifest.multiTokenPastNeedsBatchOne;
    if (alone && this.prefixLength > 0) {
      for (const s of fresh) runs.push([s]);
    } else {
      const longestFirst = [...fresh].sort((a, b) => b.tokens.length - a.tokens.length);
      for (const s of longestFirst) {
        const group = runs.at(-1);
        if (group !== undefined && s.tokens.length >= (1 - PREFILL_PADDING) * group[0]!.tokens.length) group.push(s);
        else runs.push([s]);
      }
    }
    if (decode.length > 0) runs.push(decode);
    if (alone) for (const s of chunks) runs.push([s]);
    else if (chunks.length > 0) runs.push(chunks);
    return runs;
  }

  /** One session run; returns each step's logits rows. */
  async #run(run: readonly Step[]): Promise<Float32Array[]> {
    const past = this.cache.past(run.map((s) => ({ entry: s.seq.entry, held: s.seq.length })));
    const width = Math.max(...run.map((s) => s.tokens.length));
    const keep = Math.max(...run.map((s) => s.logits));
    const feeds = this.#feeds(run, past, width, keep);
    const { numLayers } = this.manifest;
    const { names, includesPast } = this.#source;
    const fetches = [LOGITS];
    for (let l = 0; l < numLayers; l++) fetches.push(names.key(l), names.value(l));
    const result = await this.#session.run(feeds, fetches);

    const kvWidth = (includesPast ? past.width : 0) + width;
    for (let l = 0; l < numLayers; l++) {
      for (const kind of ["key", "value"] as const) {
        const fresh = { data: result[kind === "key" ? names.key(l) : names.value(l)]!.data as KvArray, width: kvWidth };
        past.rows.forEach((i, row) => {
          if (i < 0) return;
          const s = run[i]!;
          const n = s.tokens.length;
          this.cache.write(s.seq.entry, l, kind, fresh, row, kvWidth - n, n, s.seq.length);
        });
      }
    }
    const logits = result[LOGITS]!;
    const rows = logits.dims[1]!;
    const data = logits.data as Float32Array; // [batch, rows, vocab]
    const out: Float32Array[] = [];
    past.rows.forEach((i, row) => {
      if (i < 0) return;
      const s = run[i]!;
      const end = (row * rows + rows) * this.vocabSize;
      out[i] = data.subarray(end - s.logits * this.vocabSize, end); // a view: the run's output buffer is ours alone
      s.seq.length += s.tokens.length;
    });
    return out;
  }

  /**
   * input_ids, position_ids [batch, width] and attention_mask [batch,
   * past + width]: each row's tokens at the right end (left padding),
   * ones over the positions the row holds and its tokens, positions
   * counting on from what it holds. A filler row (the dense layout's
   * range) attends to its last token only.
   */
  #feeds(run: readonly Step[], past: PastLayout, width: number, keep: number): Record<string, Feed> {
    const batch = past.rows.length;
    const total = past.width + width;
    const ids = new BigInt64Array(batch * width);
    const positions = new BigInt64Array(batch * width);
    const mask = new BigInt64Array(batch * total);
    past.rows.forEach((i, row) => {
      if (i < 0) {
        mask[row * total + total - 1] = 1n;
        return;
      }
      const s = run[i]!;
      const pad = width - s.tokens.length;
      mask.fill(1n, row * total, row * total + s.seq.length);
      mask.fill(1n, row * total + past.width + pad, (row + 1) * total);
      s.tokens.forEach((t, j) => {
        ids[row * width + pad + j] = BigInt(t);
        positions[row * width + pad + j] = BigInt(s.seq.length + j);
      });
    });
    const feeds: Record<string, Feed> = {
      [INPUT_IDS]: { type: "int64", data: ids, dims: [batch, width] },
      [POSITION_IDS]: { type: "int64", data: positions, dims: [batch, width] },
      [ATTENTION_MASK]: { type: "int64", data: mask, dims: [batch, total] },
      ...past.feeds,
    };
    const keepName = this.manifest.numLogitsToKeep;
    if (keepName !== null) feeds[keepName] = { type: "int64", data: BigInt64Array.of(BigInt(keep)), dims: [] };
    return feeds;
  }
}

import { assertNever, createComputePool, dtypeOfTorchName, type ComputePool, type TorchDTypeName } from "@oar/tensor";
import type { CausalLM, ForwardStep, Sequence } from "@oar/generation";
import { readDecoderConfig } from "../architectures/index.js";
import type { DecoderConfig } from "../config.js";
import { decoderForward } from "../decoder.js";
import type { LoraDelta } from "../ops.js";
import { ropeInvFreq } from "../rope.js";
import { openModelWeights } from "../weight-layout.js";
import { buildDecoderWeights, decoderParams, type DecoderWeights } from "../weights.js";
import { EagerOps, RopeTable, type EagerWeight } from "./backend.js";
import { denseKvCache, pagedKvCache, type KvCache, type SequenceCache } from "./kv-cache.js";
import { loadEagerWeights, storeMatrix, type WeightEdit, type WeightStorage } from "./load-weights.js";

/** Where the KV cache lives: per-sequence growable buffers, or fixed-size blocks from one pool. */
export type CacheOptions =
  | { readonly kind: "dense" }
  | { readonly kind: "paged"; readonly blockSize: number; /** Blocks in the pool (default: enough for 8 sequences of maxPositions). */ readonly numBlocks?: number };

/** A LoRA update kept apart from the weight it changes (unmerged). */
export interface UnmergedLora {
  /** Module name, e.g. "model.layers.0.self_attn.q_proj". */
  readonly module: string;
  readonly a: Float32Array; // [r, in]
  readonly b: Float32Array; // [out, r]
  readonly rank: number;
  readonly scale: number;
}

/** Learned key/value positions every sequence starts with (prefix tuning). */
export interface PrefixCache {
  readonly length: number;
  readonly keys: readonly Float32Array[]; // per layer [length, kv_heads*head_dim]
  readonly values: readonly Float32Array[]; // per layer [length, kv_heads*head_dim]
}

export interface EagerModelOptions {
  /** Storage of the matrices (default: the checkpoint's own 16/32-bit float type). */
  readonly storage?: WeightStorage;
  /** Compute threads (default: every core). */
  readonly threads?: number;
  readonly cache?: CacheOptions;
  /** Cap on positions per sequence (default: config.json's max_position_embeddings). */
  readonly maxPositions?: number;
  /** Applied to each weight before storage: merged LoRA. */
  readonly edit?: WeightEdit;
  readonly unmergedLora?: readonly UnmergedLora[];
  readonly prefix?: PrefixCache;
}

/** The eager ("dynamic") model: the decoder definition run by `EagerOps`. */
export class EagerModel implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly prefixLength: number;
  private readonly rope: RopeTable;
  private readonly sequences = new Map<number, SequenceCache>();

  constructor(
    readonly config: DecoderConfig,
    private readonly weights: DecoderWeights<EagerWeight>,
    private readonly pool: ComputePool,
    readonly cache: KvCache,
    maxPositions: number,
    private readonly prefix: PrefixCache | null,
  ) {
    this.vocabSize = config.vocabSize;
    this.maxPositions = maxPositions;
    this.prefixLength = prefix?.length ?? 0;
    this.rope = new RopeTable(ropeInvFreq(config));
  }

  createSequence(): Sequence {
    return this.open(this.cache.create());
  }

  /** A sequence with KV memory for `positions` positions in all (prefix included) set aside now; null when the cache cannot hold them. */
  allocateSequence(positions: number): Sequence | null {
    if (positions > this.maxPositions) return null;
    const seq = this.cache.allocate(Math.max(positions, this.prefixLength));
    return seq === null ? null : this.open(seq);
  }

  /** Writes the prefix (if any) into a new sequence's cache and starts holding it. */
  private open(seq: SequenceCache): Sequence {
    if (this.prefix !== null) {
      const p = this.prefix;
      this.cache.reserve(seq, p.length);
      for (let l = 0; l < this.config.numLayers; l++) {
        this.cache.write(seq, l, 0, p.length, p.keys[l]!, p.values[l]!, 0);
      }
      seq.length = p.length;
    }
    this.sequences.set(seq.id, seq);
    return seq;
  }

  releaseSequence(seq: Sequence): void {
    const s = this.held(seq);
    this.sequences.delete(s.id);
    this.cache.release(s);
  }

  canAllocate(positions: number): boolean {
    return positions <= this.maxPositions && this.cache.canAllocate(positions);
  }

  forward(steps: readonly ForwardStep[]): Promise<Float32Array[]> {
    try {
      return Promise.resolve(this.forwardSync(steps));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** `forward`, synchronously: the eager model never waits on anything but its own threads. */
  forwardSync(steps: readonly ForwardStep[]): Float32Array[] {
    const seen = new Set<number>();
    const stepSeqs = steps.map((s) => {
      const cache = this.held(s.seq);
      if (seen.has(cache.id)) throw new Error(`sequence ${cache.id} appears twice in one forward call`);
      seen.add(cache.id);
      const logits = s.logits ?? 1;
      if (s.tokens.length === 0) throw new Error(`forward step for sequence ${cache.id} has no tokens`);
      if (!(logits >= 1 && logits <= s.tokens.length)) {
        throw new Error(`forward step asks for ${logits} logits rows of ${s.tokens.length} tokens`);
      }
      return { cache, tokens: s.tokens, logits };
    });
    for (const s of stepSeqs) this.cache.reserve(s.cache, s.tokens.length);
    const ops = new EagerOps(this.pool, this.cache, this.rope, stepSeqs);
    const logits = decoderForward(ops, this.config, this.weights);
    for (const s of stepSeqs) s.cache.length += s.tokens.length;
    // Views of the step's own logits array (fresh each step), not copies: a row is 151936 floats for Qwen2.
    const out: Float32Array[] = [];
    let row = 0;
    for (const s of stepSeqs) {
      out.push(logits.data.subarray(row * this.vocabSize, (row + s.logits) * this.vocabSize));
      row += s.logits;
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.pool.dispose();
  }

  private held(seq: Sequence): SequenceCache {
    const s = this.sequences.get(seq.id);
    if (s === undefined || s !== seq) throw new Error(`sequence ${seq.id} is not held by this model (released already?)`);
    return s;
  }
}

/** The storage a checkpoint's own dtype suggests: its 16-bit type kept as is, f32 otherwise. */
export function defaultStorage(cfg: DecoderConfig): WeightStorage {
  return { format: cfg.torchDtype === null ? "f32" : (dtypeOfTorchName(cfg.torchDtype) ?? "f32") };
}

/** PaddleNLP's `--quant_type` values; "" is none. */
export type QuantTypeName = "" | "weight_only_int8" | "weight_only_int4" | "a8w8";

/**
 * The eager model's storage for PaddleNLP's `--dtype` and `--quant_type`, as
 * the predictor and the server take them: weight_only_int8 is int8 with one
 * scale per output channel; no dtype keeps the checkpoint's own (defaultStorage).
 * int4 and a8w8 exist only as exported graphs (static mode).
 */
export function dynamicStorage(flags: { readonly dtype: TorchDTypeName | null; readonly quantType: QuantTypeName }, config: DecoderConfig): WeightStorage {
  switch (flags.quantType) {
    case "weight_only_int8":
      // One scale per output channel, as PaddleNLP's weight_only_int8; on this CPU it is also faster than
      // blocks of 32 (the int8 kernels' bound on Qwen2-0.5B: 25.3 against 21.6 tokens/s). A matrix whose
      // width is not a multiple of 8 stays in f32.
      return { format: "q8", blockSize: "channel" };
    case "":
      return flags.dtype === null ? defaultStorage(config) : { format: dtypeOfTorchName(flags.dtype) };
    case "weight_only_int4":
    case "a8w8":
      throw new Error(`--quant_type ${flags.quantType}: dynamic mode quantizes only to weight_only_int8; export the model with export-model --quant_type ${flags.quantType} and run it with --mode static`);
    default:
      return assertNever(flags.quantType);
  }
}

/** Checks a prefix against the model: one [length, kv_heads*head_dim] block of keys and of values per layer. */
function checkPrefix(prefix: PrefixCache, config: DecoderConfig): void {
  const kvDim = config.numKvHeads * config.headDim;
  if (!Number.isSafeInteger(prefix.length) || prefix.length <= 0) throw new Error(`prefix: length must be a positive integer, got ${prefix.length}`);
  if (prefix.keys.length !== config.numLayers || prefix.values.length !== config.numLayers) {
    throw new Error(`prefix: ${prefix.keys.length} layers of keys and ${prefix.values.length} of values, the model has ${config.numLayers} layers`);
  }
  for (const [what, parts] of [["keys", prefix.keys], ["values", prefix.values]] as const) {
    parts.forEach((part, l) => {
      if (part.length !== prefix.length * kvDim) {
        throw new Error(`prefix: layer ${l} ${what} hold ${part.length} floats, [length ${prefix.length}, kv_heads*head_dim ${kvDim}] needs ${prefix.length * kvDim}`);
      }
    });
  }
}

/** int8 blocks must be whole multiples of 8 weights (the kernels' unit); "channel" is one block a row. */
function checkStorage(storage: WeightStorage): void {
  if (storage.format !== "q8" || storage.blockSize === "channel") return;
  const b = storage.blockSize;
  if (!Number.isSafeInteger(b) || b < 8 || b % 8 !== 0) {
    throw new Error(`storage: q8 blockSize must be "channel" or a positive multiple of 8, got ${String(b)}`);
  }
}

/**
 * Loads a checkpoint directory as an eager model: config.json and weights in
 * any format and layout openModelWeights reads (safetensors, pytorch_model.bin,
 * model_state.pdparams; Hugging Face or PaddleNLP names).
 */
export async function loadEagerModel(dir: string, options: EagerModelOptions = {}): Promise<EagerModel> {
  const config = readDecoderConfig(dir);
  if (options.prefix !== undefined) checkPrefix(options.prefix, config);
  if (options.storage !== undefined) checkStorage(options.storage);
  const { source } = openModelWeights(dir, config);
  const pool = await createComputePool(options.threads === undefined ? {} : { threads: options.threads });
  try {
    const storage = options.storage ?? defaultStorage(config);
    const loaded = loadEagerWeights(config, source, pool, storage, {
      where: dir,
      ...(options.edit === undefined ? {} : { edit: options.edit }),
    });
    const lora = new Map<string, LoraDelta<EagerWeight>[]>();
    // The layers buildDecoderWeights asks LoRA for, so an update for any other module is an error, not ignored.
    const linear = new Map(decoderParams(config).filter((p) => p.shape.length === 2 && p.name.startsWith("model.layers.")).map((p) => [p.name.slice(0, -".weight".length), p.shape]));
    for (const u of options.unmergedLora ?? []) {
      const shape = linear.get(u.module);
      if (shape === undefined) throw new Error(`unmerged LoRA for "${u.module}": the model has no such linear layer (they are named like "model.layers.0.self_attn.q_proj")`);
      const [outFeatures, inFeatures] = shape as [number, number];
      if (!Number.isSafeInteger(u.rank) || u.rank <= 0 || u.a.length !== u.rank * inFeatures || u.b.length !== outFeatures * u.rank) {
        throw new Error(`unmerged LoRA for "${u.module}": a [${u.rank}, ${inFeatures}] and b [${outFeatures}, ${u.rank}] need ${u.rank * inFeatures} and ${outFeatures * u.rank} elements, got ${u.a.length} and ${u.b.length}`);
      }
      const a = storeMatrix(pool, u.a, u.rank, inFeatures, { format: "f32" });
      const b = storeMatrix(pool, u.b, outFeatures, u.rank, { format: "f32" });
      const list = lora.get(u.module) ?? [];
      list.push({ a, b, scale: u.scale });
      lora.set(u.module, list);
    }
    const weights = buildDecoderWeights<EagerWeight>(
      config,
      (name) => loaded.get(name)!,
      (module) => lora.get(module) ?? [],
    );
    const maxPositions = Math.min(options.maxPositions ?? config.maxPositions, config.maxPositions);
    const kvDim = config.numKvHeads * config.headDim;
    const shape = { layers: config.numLayers, kvDim, maxPositions };
    const cacheOptions = options.cache ?? { kind: "dense" };
    const cache =
      cacheOptions.kind === "dense"
        ? denseKvCache(pool, shape)
        : pagedKvCache(pool, {
            ...shape,
            blockSize: cacheOptions.blockSize,
            numBlocks: cacheOptions.numBlocks ?? 8 * Math.ceil(maxPositions / cacheOptions.blockSize),
          });
    return new EagerModel(config, weights, pool, cache, maxPositions, options.prefix ?? null);
  } catch (e) {
    await pool.dispose();
    throw e;
  } finally {
    source.close();
  }
}

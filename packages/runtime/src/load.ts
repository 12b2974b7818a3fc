import { assertNever } from "@oar/tensor";
import { BlockCache } from "./block-cache.js";
import { DenseCache } from "./dense-cache.js";
import type { KvCache } from "./kv-cache.js";
import { type Manifest, readManifest } from "./manifest.js";
import { type Device, openSession } from "./ort.js";
import { type Prefix, readPrefix } from "./prefix.js";
import { StaticModel } from "./static-model.js";

export interface StaticModelOptions {
  /** "cpu" (default) or "gpu" (onnxruntime's CUDA provider, when installed). */
  readonly device?: Device;
  /** Sequences in flight at once (--batch_size; default 1): rows of the dense cache, and the block pool's default size. */
  readonly batchSize?: number;
  /** Positions a sequence may need, prompt plus new tokens, prefix not counted (default: all the model allows). */
  readonly positions?: number;
  /** Block attention: blocks in the pool (default: batchSize sequences of `positions`, prefix included). */
  readonly numBlocks?: number;
  /** Dense cache: capacity grows and shrinks in steps of this many positions (default 64). */
  readonly kvChunk?: number;
  /** onnxruntime's intra-op threads (default: the cores this process may use). */
  readonly intraOpThreads?: number;
}

/** The dense cache's capacity step: small enough that the past fed each step stays close to the context held (README, "KV cache"). */
const DEFAULT_KV_CHUNK = 64;

/**
 * Loads an inference directory written by export-model: checks
 * oar_inference.json and the files it names, opens the graph on
 * onnxruntime, and returns a CausalLM over it with the KV cache the
 * directory's graph calls for (dense, or blocks with block attention).
 */
export async function loadStaticModel(dir: string, options: StaticModelOptions = {}): Promise<StaticModel> {
  const manifest = readManifest(dir);
  const batchSize = positive("batchSize", options.batchSize ?? 1);
  const prefix = readPrefix(manifest);
  const prefixLength = prefix?.length ?? 0;
  const positions = Math.min(manifest.maxPositions, prefixLength + positive("positions", options.positions ?? manifest.maxPositions));
  const cache = makeCache(manifest, prefix, {
    rows: batchSize,
    chunk: positive("kvChunk", options.kvChunk ?? DEFAULT_KV_CHUNK),
    positions,
    numBlocks: options.numBlocks === undefined ? null : positive("numBlocks", options.numBlocks),
  });
  const session = await openSession(manifest.model, {
    device: options.device ?? "cpu",
    ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: positive("intraOpThreads", options.intraOpThreads) }),
  });
  return new StaticModel(manifest, session, cache);
}

function positive(what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`loadStaticModel: ${what} must be a positive integer, got ${v}`);
  return v;
}

function makeCache(m: Manifest, prefix: Prefix | null, sizes: { rows: number; chunk: number; positions: number; numBlocks: number | null }): KvCache {
  const shape = { layers: m.numLayers, kvHeads: m.numKvHeads, headDim: m.headDim, type: m.kvType, prefix, maxPositions: m.maxPositions };
  const kv = m.kv;
  switch (kv.io) {
    case "blocks": {
      const { blockSize, pools, tables } = kv;
      const numBlocks = sizes.numBlocks ?? sizes.rows * Math.ceil(sizes.positions / blockSize);
      return new BlockCache({ ...shape, pools, tables, blockSize, numBlocks });
    }
    case "present":
    case "present+new":
      if (sizes.numBlocks !== null) throw new Error(`loadStaticModel: numBlocks is for block attention, and ${m.dir} was exported without it (--block_attn)`);
      return new DenseCache({ ...shape, past: kv.past, rows: sizes.rows, chunk: sizes.chunk });
    default:
      return assertNever(kv);
  }
}

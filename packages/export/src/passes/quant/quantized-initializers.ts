import type { RewriteBuilder } from "../../ir/builder.js";
import type { Initializer } from "../../ir/initializer.js";
import type { Value } from "../../ir/value.js";
import {
  BlockGeometry,
  type BlockPart,
  type BlockQuantSpec,
  type MatrixLayout,
  SharedComputation,
  bytesOf,
  quantizeColumns,
  quantizeMatrix,
} from "./block-quantize.js";

/*
 * The lazy initializers a quantizing rewrite puts in place of a weight.
 * Their bytes come from one SharedComputation per weight (and layout and
 * spec), so packed bits, scales and zero points are computed from one read
 * of the weight when the model is written; a weight two nodes read is
 * quantized once and its initializers are shared.
 */

/** The shapes the consumer op wants: MatMulNBits' [N, k_blocks, block_bytes] / [N*k_blocks], or GatherBlockQuantized's [N, K*bits/8] / [N, k_blocks]. */
export type BlockConsumer = "matmul-nbits" | "gather-block-quantized";

export interface BlockInitializers {
  readonly packed: Value; // u8 [N, k_blocks, block_bytes] (MatMulNBits) or [N, K*bits/8] (GatherBlockQuantized)
  readonly scales: Value; // f32 [N*k_blocks] or [N, k_blocks]
  readonly zeroPoints: Value | null; // u8 [N*zero_point_bytes] or [N, zero_point_bytes]; null when symmetric
}

interface BlockComputation {
  readonly geo: BlockGeometry;
  readonly shared: SharedComputation<BlockPart>;
}

const blockComputations = new WeakMap<Initializer, Map<string, BlockComputation>>();
const madeBlock = new WeakMap<Value, Map<string, BlockInitializers>>();

function specKey(spec: BlockQuantSpec): string {
  return `${spec.bits}:${spec.blockSize}:${spec.symmetric ? "symmetric" : "asymmetric"}`;
}

/** The value under `key` in a per-object memo, made by `make` on first use. */
function memo<K extends object, T>(table: WeakMap<K, Map<string, T>>, owner: K, key: string, make: () => T, alive: (t: T) => boolean = () => true): T {
  let byKey = table.get(owner);
  if (byKey === undefined) {
    byKey = new Map();
    table.set(owner, byKey);
  }
  let t = byKey.get(key);
  if (t === undefined || !alive(t)) {
    t = make();
    byKey.set(key, t);
  }
  return t;
}

/** One SharedComputation per weight, layout and spec. */
function blockComputation(weight: Initializer, layout: MatrixLayout, spec: BlockQuantSpec): BlockComputation {
  return memo(blockComputations, weight, `${layout}:${specKey(spec)}`, () => {
    const [rows, cols] = weight.shape as [number, number];
    const geo = layout === "in-out" ? new BlockGeometry(cols, rows, spec) : new BlockGeometry(rows, cols, spec);
    const parts: BlockPart[] = spec.symmetric ? ["packed", "scales"] : ["packed", "scales", "zeroPoints"];
    const what = `int${spec.bits} blocks of ${spec.blockSize}${spec.symmetric ? "" : " with zero points"} of ${weight.description}`;
    const shared = new SharedComputation<BlockPart>(what, parts, () => {
      const { q } = quantizeMatrix(weight, layout, spec);
      return { packed: q.packed, scales: bytesOf(q.scales), zeroPoints: q.zeroPoints ?? new Uint8Array(0) };
    });
    return { geo, shared };
  });
}

/**
 * The packed bits, scales and zero points of `weight` (a 2-D initializer
 * lying as `layout`), shaped for `consumer`, built with `b` the first time
 * and shared after (while they are in the graph).
 */
export function blockInitializers(
  b: RewriteBuilder,
  weight: Value,
  layout: MatrixLayout,
  spec: BlockQuantSpec,
  consumer: BlockConsumer,
): BlockInitializers {
  const init = weight.initializer;
  if (init === null) throw new Error(`blockInitializers: '${weight.name}' is not an initializer`);
  return memo(
    madeBlock,
    weight,
    `${consumer}:${layout}:${specKey(spec)}`,
    () => {
      const { geo, shared } = blockComputation(init, layout, spec);
      const { n, kBlocks, blockBytes, zeroPointBytes } = geo;
      const gather = consumer === "gather-block-quantized";
      const name = `${weight.name}.int${spec.bits}`;
      const packed = b.initializer(
        { dtype: "u8", shape: gather ? [n, kBlocks * blockBytes] : [n, kBlocks, blockBytes], source: shared.source("packed") },
        { name },
      );
      const scales = b.initializer({ dtype: "f32", shape: gather ? [n, kBlocks] : [n * kBlocks], source: shared.source("scales") }, { name: `${name}.scales` });
      const zeroPoints = spec.symmetric
        ? null
        : b.initializer(
            { dtype: "u8", shape: gather ? [n, zeroPointBytes] : [n * zeroPointBytes], source: shared.source("zeroPoints") },
            { name: `${name}.zero_points` },
          );
      return { packed, scales, zeroPoints };
    },
    (made) => b.graph.contains(made.packed),
  );
}

export interface ChannelInitializers {
  readonly weight: Value; // i8 [K, N] (symmetric) or u8
  readonly scales: Value; // f32 [N]
  readonly zeroPoints: Value | null; // u8 [N]
}

const madeChannel = new WeakMap<Value, Map<string, ChannelInitializers>>();

/** A [K, N] weight quantized per output column to 8 bits, as DynamicQuantizeMatMul reads it; shared like blockInitializers. */
export function channelInitializers(b: RewriteBuilder, weight: Value, symmetric: boolean): ChannelInitializers {
  const init = weight.initializer;
  if (init === null) throw new Error(`channelInitializers: '${weight.name}' is not an initializer`);
  return memo(
    madeChannel,
    weight,
    symmetric ? "symmetric" : "asymmetric",
    () => {
      const [k, n] = init.shape as [number, number];
      const parts: ("weight" | "scales" | "zeroPoints")[] = symmetric ? ["weight", "scales"] : ["weight", "scales", "zeroPoints"];
      const shared = new SharedComputation(`int8 per column${symmetric ? "" : " with zero points"} of ${init.description}`, parts, () => {
        const q = quantizeColumns(init, symmetric);
        return { weight: q.weight, scales: bytesOf(q.scales), zeroPoints: q.zeroPoints ?? new Uint8Array(0) };
      });
      const name = `${weight.name}.int8`;
      return {
        weight: b.initializer({ dtype: symmetric ? "i8" : "u8", shape: [k, n], source: shared.source("weight") }, { name }),
        scales: b.initializer({ dtype: "f32", shape: [n], source: shared.source("scales") }, { name: `${name}.scales` }),
        zeroPoints: symmetric ? null : b.initializer({ dtype: "u8", shape: [n], source: shared.source("zeroPoints") }, { name: `${name}.zero_points` }),
      };
    },
    (made) => b.graph.contains(made.weight),
  );
}

import { type Rule, accept, defineRule, noMatch, reject } from "../../rewrite/rule.js";
import type { BlockQuantSpec } from "./block-quantize.js";
import { blockInitializers } from "./quantized-initializers.js";

export interface GatherBlockQuantizedOptions extends BlockQuantSpec {
  /** Tables of fewer f32 bytes stay f32 (the saving is not worth an op that is slower per row). */
  readonly minBytes: number;
}

/**
 * Gather(table, ids) on axis 0 of a constant f32 [vocab, hidden] table ->
 * com.microsoft GatherBlockQuantized(data, ids, scales[, zero_points]) with
 * each row quantized in blocks along hidden (gather_axis 0, quantize_axis
 * 1): the token embedding, 544 MB in f32 at Qwen2-0.5B's shapes, held in
 * an eighth (int4) or a quarter (int8) of that. The table is read a row at
 * a time while it is quantized.
 */
export function gatherBlockQuantizedRule(options: GatherBlockQuantizedOptions): Rule {
  const { bits, blockSize, symmetric, minBytes } = options;
  return defineRule({
    name: `gather-block-quantized-int${bits}`,
    vars: ["table", "ids"],
    pattern: (p, { table, ids }) => p.op("Gather", [table, ids]),
    check: (m) => {
      const { table, ids } = m.vars;
      const init = table.initializer;
      const gather = m.nodes[0]!;
      if (init === null || init.shape.length !== 2 || gather.int("axis", 0) !== 0) return noMatch();
      if (init.dtype !== "f32") return reject(`table ${table.describe()} is not f32`);
      const [vocab, hidden] = init.shape as [number, number];
      if (init.byteLength < minBytes) {
        return reject(`table ${table.describe()} stays f32: ${(init.byteLength / 2 ** 20).toFixed(2)} MiB is under ${(minBytes / 2 ** 20).toFixed(0)} MiB`);
      }
      if (hidden % blockSize !== 0) return reject(`table ${table.describe()}: hidden size ${hidden} is not a multiple of the block size ${blockSize}`);
      if (ids.dtype !== "i64" && ids.dtype !== "i32") return reject(`indices ${ids.describe()} are not int64 or int32`);
      return accept({ table, ids, vocab, hidden });
    },
    rewrite: (b, { table, ids, hidden }) => {
      const q = blockInitializers(b, table, "out-in", { bits, blockSize, symmetric }, "gather-block-quantized");
      const inputs = q.zeroPoints === null ? [q.packed, ids, q.scales] : [q.packed, ids, q.scales, q.zeroPoints];
      return b.op("GatherBlockQuantized", inputs, {
        attrs: { gather_axis: 0, quantize_axis: 1, block_size: blockSize, bits },
        name: `${table.name}/GatherBlockQuantized`,
        shape: ids.shape === undefined ? undefined : [...ids.shape, hidden],
      });
    },
  });
}

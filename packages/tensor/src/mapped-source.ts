import { dtypeSize } from "./dtype.js";
import { type StoredTensor, type TensorInfo, type TensorSource, sourceFromTensors } from "./tensor-source.js";

/** A tensor of a mapped source: the source tensor it shows, and whether it shows that matrix transposed. */
export interface MappedTensor {
  readonly from: string;
  readonly transpose: boolean;
}

/**
 * A TensorSource that shows tensors of `source` under other names, matrices
 * transposed where `map` says: a checkpoint whose layout differs from the
 * one a model reads (PaddleNLP's `qwen2.` names and [in, out] linear
 * weights) seen in that layout. Tensors of `source` that `map` does not name
 * are not shown. A transposed matrix is read whole and transposed when any
 * part of it is asked for; the last one is kept, so reading it a block of
 * rows at a time reads the file once. close() closes `source`. `label`
 * names the mapped source in errors.
 */
export function mapTensors(source: TensorSource, map: ReadonlyMap<string, MappedTensor>, label: string): TensorSource {
  let held: { readonly name: string; readonly bytes: Uint8Array } | null = null;
  const tensors = new Map<string, StoredTensor>();
  for (const [name, m] of map) {
    const from = source.info(m.from);
    if (!m.transpose) {
      tensors.set(name, { info: { ...from, name }, read: (position, target) => source.readRange(m.from, position, target) });
      continue;
    }
    if (from.shape.length !== 2) throw new Error(`${from.file}: tensor "${m.from}" has shape [${from.shape.join(", ")}]; only a matrix can be read transposed`);
    const [rows, cols] = from.shape as [number, number];
    const info: TensorInfo = { ...from, name, shape: [cols, rows] };
    tensors.set(name, {
      info,
      read: (position, target) => {
        if (held === null || held.name !== name) {
          held = null; // let the previous matrix go before reading the next
          held = { name, bytes: transposed(source.read(m.from).data, rows, cols, dtypeSize(from.dtype)) };
        }
        target.set(held.bytes.subarray(position, position + target.length));
      },
    });
  }
  const mapped = sourceFromTensors(label, source.format, tensors, [], new Map(Object.entries(source.metadata)));
  return {
    ...mapped,
    close: () => {
      held = null;
      source.close();
    },
  };
}

/** The bytes of the transpose [cols, rows] of a row-major [rows, cols] matrix of `size`-byte elements. */
function transposed(data: ArrayBufferView, rows: number, cols: number, size: number): Uint8Array {
  const out = new Uint8Array(rows * cols * size);
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const copy = <T extends Uint8Array | Uint16Array | Uint32Array>(make: (b: ArrayBufferLike, o: number, n: number) => T): void => {
    const s = make(src.buffer, src.byteOffset, rows * cols);
    const d = make(out.buffer, 0, rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[c * rows + r] = s[r * cols + c]!;
  };
  if (size === 1) copy((b, o, n) => new Uint8Array(b, o, n));
  else if (size === 2) copy((b, o, n) => new Uint16Array(b, o, n));
  else if (size === 4) copy((b, o, n) => new Uint32Array(b, o, n));
  else {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out.set(src.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
    }
  }
  return out;
}

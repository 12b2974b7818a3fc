import * as fs from "node:fs";
import {
  type DType,
  type Tensor,
  type TensorSource,
  type TypedArray,
  cast,
  dtypeSize,
  numel,
  shapeString,
  viewAs,
} from "@oar/tensor";

/**
 * Where a lazy initializer's bytes come from. `chunks()` yields the tensor's
 * bytes (little-endian, row-major, in the initializer's dtype) in order, in as
 * many pieces as suits the source; it may be called more than once (once per
 * write), and nothing it yields is kept after use. This is how a 2-6 GB
 * model is exported holding one weight at a time: a source reads a slice of a
 * checkpoint, converts it, or quantizes it only when the writer asks.
 */
export interface ByteSource {
  /** Where the bytes come from, for messages: "model.safetensors: lm_head.weight (bf16 -> f32)". */
  readonly description: string;
  chunks(): Iterable<Uint8Array>;
}

/** The bytes of a constant tensor: in memory, or a ByteSource read on demand. */
export type InitializerData =
  | { readonly kind: "memory"; readonly data: TypedArray }
  | { readonly kind: "lazy"; readonly source: ByteSource };

/** A lazy initializer before it joins a graph. */
export interface LazyTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly source: ByteSource;
}

/** The constant data behind an initializer value: dtype, static shape and bytes. */
export class Initializer {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: InitializerData;

  constructor(dtype: DType, shape: readonly number[], data: InitializerData) {
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`an initializer's shape must be non-negative integers, got ${shapeString(shape)}`);
    }
    if (data.kind === "memory" && data.data.length !== numel(shape)) {
      throw new Error(`initializer of shape ${shapeString(shape)} needs ${numel(shape)} elements, got ${data.data.length}`);
    }
    this.dtype = dtype;
    this.shape = [...shape];
    this.data = data;
  }

  static fromTensor(t: Tensor): Initializer {
    return new Initializer(t.dtype, t.shape, { kind: "memory", data: t.data });
  }

  static fromLazy(t: LazyTensor): Initializer {
    return new Initializer(t.dtype, t.shape, { kind: "lazy", source: t.source });
  }

  get numel(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.numel * dtypeSize(this.dtype);
  }

  get description(): string {
    return this.data.kind === "memory" ? `in-memory ${this.dtype} ${shapeString(this.shape)}` : this.data.source.description;
  }

  /**
   * The bytes in order. A lazy source that yields more or fewer bytes than
   * dtype and shape say is an error naming the source.
   */
  *chunks(): Generator<Uint8Array> {
    if (this.data.kind === "memory") {
      yield this.bytes();
      return;
    }
    const expected = this.byteLength;
    let seen = 0;
    for (const chunk of this.data.source.chunks()) {
      seen += chunk.byteLength;
      if (seen > expected) break;
      yield chunk;
    }
    if (seen !== expected) {
      throw new Error(
        `${this.data.source.description}: produced ${seen > expected ? "more than " : ""}${seen} bytes, ` +
          `but a ${this.dtype} tensor of shape ${shapeString(this.shape)} is ${expected} bytes`,
      );
    }
  }

  /** All the bytes in one fresh buffer (or a view of the in-memory array). */
  bytes(): Uint8Array {
    if (this.data.kind === "memory") {
      const d = this.data.data;
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }
    const out = new Uint8Array(this.byteLength);
    let at = 0;
    for (const chunk of this.chunks()) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  /** The data as a Tensor; a lazy initializer is read now (the result is not cached). */
  toTensor(): Tensor {
    if (this.data.kind === "memory") return { dtype: this.dtype, shape: this.shape, data: this.data.data };
    const bytes = this.bytes();
    return { dtype: this.dtype, shape: this.shape, data: viewAs(this.dtype, bytes.buffer, bytes.byteOffset, this.numel) };
  }
}

/** fs.readSync moves at most about 2 GiB per call, and smaller pieces keep peak memory low. */
const READ_CHUNK = 16 << 20;

/**
 * `length` bytes of `path` from `offset`, read in pieces of at most 16 MiB
 * (multiples of 64 bytes, so a converting source can map whole elements).
 */
export function fileRangeSource(options: {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
  readonly description?: string;
}): ByteSource {
  const { path, offset, length } = options;
  const description = options.description ?? `${path} bytes ${offset}..${offset + length}`;
  return {
    description,
    *chunks() {
      const fd = fs.openSync(path, "r");
      try {
        for (let done = 0; done < length; ) {
          const piece = new Uint8Array(Math.min(READ_CHUNK, length - done));
          let filled = 0;
          while (filled < piece.length) {
            const n = fs.readSync(fd, piece, filled, piece.length - filled, offset + done + filled);
            if (n === 0) throw new Error(`${description}: ${path} ended after ${offset + done + filled} bytes`);
            filled += n;
          }
          done += piece.length;
          yield piece;
        }
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/**
 * Tensor `name` of a checkpoint as a lazy initializer, converted to `dtype`
 * (default: as stored) only when its bytes are asked for.
 */
export function checkpointTensor(checkpoint: TensorSource, name: string, options: { readonly dtype?: DType } = {}): LazyTensor {
  const info = checkpoint.info(name);
  const dtype = options.dtype ?? info.dtype;
  const description = `${info.file}: ${name}${dtype === info.dtype ? "" : ` (${info.dtype} -> ${dtype})`}`;
  return {
    dtype,
    shape: info.shape,
    source: {
      description,
      *chunks() {
        const stored = checkpoint.read(name);
        const t = dtype === info.dtype ? stored : cast(stored, dtype);
        yield new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      },
    },
  };
}

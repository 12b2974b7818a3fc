import * as fs from "node:fs";
import * as os from "node:os";
import { type DType, dtypeSize, viewAs } from "./dtype.js";
import { type Tensor, numel } from "./tensor.js";

/*
 * A checkpoint's tensors, read lazily: opening reads and checks only what
 * says where each tensor is (a safetensors header, a torch zip's directory
 * and pickle, a pdparams pickle's opcodes), and each read fetches only the
 * bytes it asks for. Every format gives the same TensorSource, so what loads
 * weights never knows which file they came from.
 */

/** The weight-file formats a checkpoint can be in. */
export type CheckpointFormat = "safetensors" | "pytorch" | "pdparams";

/** Where one tensor lives on disk. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly file: string;
  /**
   * Absolute offset in `file` of the tensor's first element. Only a
   * safetensors tensor is sure to be the `byteLength` bytes that follow (a
   * torch tensor can be a strided view, a pdparams one encoded): read
   * through the source.
   */
  readonly byteOffset: number;
  /** numel(shape) * dtypeSize(dtype): the bytes a read of the whole tensor gives. */
  readonly byteLength: number;
}

/** Lazy access to the tensors of one weight file or a whole checkpoint. */
export interface TensorSource {
  /** What the tensors were read from. */
  readonly format: CheckpointFormat;
  /** Sorted. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Throws an Error naming the tensor and the checkpoint if absent. */
  info(name: string): TensorInfo;
  /** Reads only this tensor's bytes into a fresh, aligned buffer. */
  read(name: string): Tensor;
  /**
   * Copies the tensor's raw little-endian bytes (row-major) into `target`,
   * whose length must equal its byteLength. `target` may view a
   * SharedArrayBuffer (e.g. WebAssembly shared memory).
   */
  readInto(name: string, target: Uint8Array): void;
  /**
   * Copies bytes [position, position + target.length) of the tensor's
   * row-major bytes into `target`: a block of rows of a matrix too large to
   * hold twice. Both ends must fall on element boundaries.
   */
  readRange(name: string, position: number, target: Uint8Array): void;
  readonly metadata: Readonly<Record<string, string>>;
  /** Closes the file descriptors; later reads throw. */
  close(): void;
}

/** fs.readSync and fs.writeSync move at most about 2 GiB per call; larger reads go in pieces. */
export const IO_CHUNK = 1 << 30;

if (os.endianness() !== "LE") {
  throw new Error("@oar/tensor reads and writes little-endian data in place and needs a little-endian host");
}

/** An open file descriptor shared by the source and the reads it serves; null once closed. */
export interface OpenFile {
  readonly path: string;
  fd: number | null;
}

export function openFile(file: string): OpenFile {
  try {
    return { path: file, fd: fs.openSync(file, "r") };
  } catch (e) {
    throw new Error(`${file}: cannot open: ${(e as Error).message}`);
  }
}

export function closeFile(f: OpenFile): void {
  if (f.fd !== null) {
    fs.closeSync(f.fd);
    f.fd = null;
  }
}

/** The descriptor of an open file, or an error naming `what` was read after close(). */
export function fdOf(f: OpenFile, what: string): number {
  if (f.fd === null) throw new Error(`${f.path}: ${what} read after close()`);
  return f.fd;
}

/** Fills `target` from the file at `position`, or throws naming `file` and `what` was being read. */
export function readFully(fd: number, file: string, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(IO_CHUNK, target.length - done);
    const got = fs.readSync(fd, target, done, want, position + done);
    if (got === 0) {
      throw new Error(
        `${file}: ${what}: file ended after ${done} of ${target.length} bytes at offset ${position} (was it truncated after opening?)`,
      );
    }
    done += got;
  }
}

/** How to read what a weight file cannot say by itself. */
export interface OpenOptions {
  /**
   * PaddleNLP saves bfloat16 as uint16 (numpy has no bfloat16: "U16" in
   * safetensors, uint16 arrays in .pdparams), and only the model's
   * config.json ("dtype": "bfloat16") says so. "bf16" reads such tensors as
   * bf16; without it they are refused.
   */
  readonly uint16As?: "bf16";
}

/** The error for a uint16 tensor read without OpenOptions.uint16As. */
export function uint16Refusal(where: string, stored: string): string {
  return `${where}: stored as ${stored}, which a checkpoint holds only as PaddleNLP's bfloat16, but the model's config.json does not say "dtype": "bfloat16"`;
}

/** One tensor of a source: where it is, and how to read a run of its row-major bytes. */
export interface StoredTensor {
  readonly info: TensorInfo;
  /** Fills `target` with bytes [position, position + target.length) of the tensor (the range is checked by the caller). */
  read(position: number, target: Uint8Array): void;
}

/** A tensor stored as `info.byteLength` contiguous bytes at `info.byteOffset` of an open file. */
export function contiguousTensor(info: TensorInfo, handle: OpenFile): StoredTensor {
  return {
    info,
    read: (position, target) => readFully(fdOf(handle, `tensor "${info.name}"`), info.file, target, info.byteOffset + position, `tensor "${info.name}"`),
  };
}

/** One weight file, opened and checked. */
export interface OpenedFile {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: ReadonlyMap<string, string>;
  readonly handle: OpenFile;
}

/** A TensorSource over one opened file. */
export function sourceFromFile(file: string, format: CheckpointFormat, opened: OpenedFile): TensorSource {
  return sourceFromTensors(file, format, opened.tensors, [opened.handle], opened.metadata);
}

/**
 * A TensorSource over tensors already checked. `label` names the checkpoint
 * in errors; `files` are closed by close().
 */
export function sourceFromTensors(
  label: string,
  format: CheckpointFormat,
  tensors: ReadonlyMap<string, StoredTensor>,
  files: Iterable<OpenFile>,
  metadata: ReadonlyMap<string, string>,
): TensorSource {
  const names = [...tensors.keys()].sort();
  const held = [...files];
  const stored = (name: string): StoredTensor => {
    const t = tensors.get(name);
    if (t === undefined) throw new Error(`${label}: no tensor named "${name}" (it holds ${names.length} tensors)`);
    return t;
  };
  const readRange = (name: string, position: number, target: Uint8Array): void => {
    const t = stored(name);
    const { info } = t;
    const size = dtypeSize(info.dtype);
    if (!Number.isSafeInteger(position) || position < 0 || position % size !== 0 || target.length % size !== 0 || position + target.length > info.byteLength) {
      throw new Error(`${info.file}: tensor "${name}": cannot read bytes [${position}, ${position + target.length}) of its ${info.byteLength} (${info.dtype} elements are ${size} bytes)`);
    }
    t.read(position, target);
  };
  const readInto = (name: string, target: Uint8Array): void => {
    const i = stored(name).info;
    if (target.length !== i.byteLength) {
      throw new Error(`${i.file}: tensor "${name}": readInto target holds ${target.length} bytes, the tensor ${i.byteLength}`);
    }
    readRange(name, 0, target);
  };
  return {
    format,
    names,
    has: (name) => tensors.has(name),
    info: (name) => stored(name).info,
    read: (name) => {
      const i = stored(name).info;
      const buffer = new ArrayBuffer(i.byteLength);
      readInto(name, new Uint8Array(buffer));
      return { dtype: i.dtype, shape: [...i.shape], data: viewAs(i.dtype, buffer, 0, numel(i.shape)) };
    },
    readInto,
    readRange,
    // fromEntries defines own properties, so a key like "__proto__" stays an ordinary key.
    metadata: Object.freeze(Object.fromEntries(metadata)),
    close: () => {
      for (const f of held) closeFile(f);
    },
  };
}

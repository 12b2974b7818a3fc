import { type OpenFile, type StoredTensor, type TensorInfo, fdOf, readFully } from "./tensor-source.js";

/*
 * A tensor as a strided view of a storage, as torch and numpy hold them: a
 * storage is a run of elements, and a tensor picks elements at
 * offset + sum(index[d] * strides[d]). Tensors saved together may share one
 * storage (tied weights; q, k and v sliced from one fused matrix), start
 * part-way into it, or step through it out of order (a transposed view, a
 * Fortran-ordered numpy array). Reading gives the row-major bytes whatever
 * the layout: contiguous views straight from the file, others gathered
 * element by element from the span of the storage they cover.
 */

/** The bytes of one storage. */
export interface ByteStore {
  readonly length: number;
  /** Fills `target` from bytes [position, position + target.length) of the storage (within length: the caller checks). */
  read(position: number, target: Uint8Array): void;
}

/** A storage that is `length` bytes of an open file at `offset`. */
export function fileStore(handle: OpenFile, offset: number, length: number, what: string): ByteStore {
  return {
    length,
    read: (position, target) => readFully(fdOf(handle, what), handle.path, target, offset + position, what),
  };
}

/** Where a tensor's elements lie in its storage, in elements. */
export interface ViewLayout {
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
}

/** Row-major strides of `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/** Column-major (Fortran) strides of `shape`. */
export function fortranStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = 0; d < shape.length; d++) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/** Whether the view's elements are its storage's, in order, from `offset` (dimensions of size 1 may have any stride). */
export function isContiguous(layout: ViewLayout): boolean {
  let expect = 1;
  for (let d = layout.shape.length - 1; d >= 0; d--) {
    const n = layout.shape[d]!;
    if (n !== 1 && layout.strides[d] !== expect) return false;
    expect *= n;
  }
  return true;
}

/**
 * Why the view does not fit a storage of `elements` elements, or null when
 * it does: every number a non-negative safe integer, and the last element it
 * reaches inside the storage.
 */
export function viewProblem(layout: ViewLayout, elements: number): string | null {
  const { offset, shape, strides } = layout;
  if (shape.length !== strides.length) return `shape [${shape.join(", ")}] and strides [${strides.join(", ")}] differ in length`;
  for (const v of [offset, ...shape, ...strides]) {
    if (!Number.isSafeInteger(v) || v < 0) return `offset ${offset}, shape [${shape.join(", ")}] and strides [${strides.join(", ")}] must be non-negative integers`;
  }
  let count = 1;
  for (const n of shape) {
    count *= n;
    if (count > Number.MAX_SAFE_INTEGER) return `shape [${shape.join(", ")}] holds more than 2^53 elements`;
  }
  if (count === 0) return offset <= elements ? null : `storage offset ${offset} lies past the end of its ${elements}-element storage`;
  let last = offset;
  for (let d = 0; d < shape.length; d++) {
    last += (shape[d]! - 1) * strides[d]!;
    if (last >= elements) break;
  }
  if (last >= elements) {
    return `storage offset ${offset}, shape [${shape.join(", ")}] and strides [${strides.join(", ")}] reach element ${last}, past the end of its ${elements}-element storage`;
  }
  return null;
}

/** A tensor that is a (checked) view of `store`; `elementSize` bytes an element. */
export function viewTensor(info: TensorInfo, store: ByteStore, layout: ViewLayout, elementSize: number): StoredTensor {
  if (isContiguous(layout)) {
    return { info, read: (position, target) => store.read(layout.offset * elementSize + position, target) };
  }
  return { info, read: (position, target) => gather(store, layout, elementSize, position / elementSize, target) };
}

/** Storage element index of each of `count` view elements from `first`, in row-major order, passed to `visit`. */
function forEachOffset(layout: ViewLayout, first: number, count: number, visit: (element: number, i: number) => void): void {
  const { shape, strides } = layout;
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let rest = first;
  let at = layout.offset;
  for (let d = rank - 1; d >= 0; d--) {
    index[d] = rest % shape[d]!;
    rest = Math.floor(rest / shape[d]!);
    at += index[d]! * strides[d]!;
  }
  for (let i = 0; i < count; i++) {
    visit(at, i);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      at += strides[d]!;
      if (index[d]! < shape[d]!) break;
      at -= index[d]! * strides[d]!;
      index[d] = 0;
    }
  }
}

/** The row-major elements [first, first + target.length / elementSize) of a strided view. */
function gather(store: ByteStore, layout: ViewLayout, elementSize: number, first: number, target: Uint8Array): void {
  const count = target.length / elementSize;
  if (count === 0) return;
  let lo = Infinity;
  let hi = -1;
  forEachOffset(layout, first, count, (e) => {
    if (e < lo) lo = e;
    if (e > hi) hi = e;
  });
  const span = new Uint8Array((hi - lo + 1) * elementSize);
  store.read(lo * elementSize, span);
  forEachOffset(layout, first, count, (e, i) => {
    const from = (e - lo) * elementSize;
    const to = i * elementSize;
    for (let b = 0; b < elementSize; b++) target[to + b] = span[from + b]!;
  });
}

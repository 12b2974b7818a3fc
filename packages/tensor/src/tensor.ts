import { type DType, type DataOf, allocData } from "./dtype.js";

/** A dense, row-major tensor. `data.length` is always the product of `shape`. */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DataOf[D];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Wraps `data` as a tensor of `shape`, checking that the element counts agree. */
export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: DataOf[D]): Tensor<D> {
  const n = numel(shape);
  if (data.length !== n) {
    throw new Error(`tensor of shape [${shape.join(", ")}] needs ${n} elements, got ${data.length}`);
  }
  return { dtype, shape: [...shape], data };
}

export function zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
  return { dtype, shape: [...shape], data: allocData(dtype, numel(shape)) };
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

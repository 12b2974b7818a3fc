/**
 * The little of the WebAssembly JS API the pool uses, typed here because the
 * project's lib (ES2022, no DOM) declares none of it, and the compiled kernels.
 */
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

/** A compiled module; opaque, but it can be posted to workers. */
export interface WasmModule {
  readonly __wasmModule: unique symbol;
}

export interface WasmMemory {
  /** A fresh SharedArrayBuffer object after each grow; older ones stay valid at their old length. */
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Instance: new (module: WasmModule, imports: { env: { memory: WasmMemory } }) => { exports: unknown };
}

const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const PAGE_BYTES = 65536;
/** V8's limit for one wasm32 memory: 65536 pages, 4 GiB. */
export const MAX_PAGES = 65536;

/** The functions of kernels.wat; every pointer is a byte offset in the instance's memory. */
export interface KernelExports {
  gemv_f32(x: number, w: number, k: number, n0: number, n1: number, out: number, bias: number): void;
  gemm_f32(x: number, m: number, w: number, k: number, n0: number, n1: number, out: number, ldo: number, bias: number): void;
  gemv_bf16(x: number, w: number, k: number, n0: number, n1: number, out: number, bias: number): void;
  gemm_bf16(x: number, m: number, w: number, k: number, n0: number, n1: number, out: number, ldo: number, bias: number): void;
  /** d: the power of two the data was scaled by (see f16.ts). */
  gemv_f16(x: number, w: number, k: number, n0: number, n1: number, out: number, bias: number, d: number): void;
  gemm_f16(
    x: number, m: number, w: number, k: number, n0: number, n1: number, out: number, ldo: number, bias: number, d: number,
  ): void;
  quantize_rows(src: number, m: number, k: number, dst: number, scales: number): void;
  quantize_q8_row(src: number, k: number, bs: number, dst: number, scales: number): void;
  gemv_q8(
    x: number, xs: number, w: number, s: number, k: number, bs: number, sub: number,
    n0: number, n1: number, out: number, bias: number,
  ): void;
  gemm_q8(
    x: number, xs: number, m: number, w: number, s: number, k: number, bs: number, sub: number,
    n0: number, n1: number, out: number, ldo: number, bias: number,
  ): void;
  /** Attention tasks [t0, t1) of the table at `table`; scale is the f32's bits; scores: this thread's area. */
  attend(table: number, t0: number, t1: number, headDim: number, kvStride: number, scale: number, scores: number): void;
  silu(x: number, out: number, n: number): void;
}

/**
 * Which build of kernels.wat runs (see scripts/build-wasm.mjs):
 * - "relaxed-simd": every multiply-add is f32x4.relaxed_madd, one fused
 *   multiply-add instruction where the CPU has one (x64 with FMA3, arm64).
 *   Measured on the Qwen2-0.5B matmuls, a decode step with bf16 weights took
 *   5% less time than with "simd", with q8 weights 13% less: the separate
 *   multiplies and adds had saturated the two vector ports.
 * - "simd": the same kernels with a multiply and an add, for engines without
 *   relaxed SIMD.
 */
export type KernelVariant = "relaxed-simd" | "simd";

function readKernels(file: string): Uint8Array {
  const url = new URL(`./${file}`, import.meta.url);
  try {
    return readFileSync(url);
  } catch (error) {
    throw new Error(
      `the compute kernels are missing (${url.pathname}): build @oar/tensor first ` +
        `(npm run build -w @oar/tensor assembles src/kernels/kernels.wat); ${String(error)}`,
    );
  }
}

/**
 * The smallest module that uses relaxed SIMD: one function returning
 * f32x4.relaxed_madd of its three v128 parameters.
 */
const RELAXED_SIMD_PROBE = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // local.get 0 1 2, f32x4.relaxed_madd, end
]);

/**
 * Whether this engine runs relaxed SIMD. Node 22 and later have it on; Node 20
 * (V8 11.3) has it behind --experimental-wasm-relaxed-simd, which is turned
 * on here (a V8 flag read when a module is compiled; it changes nothing else).
 * Asked of a probe, not of the kernels, so that kernels which fail to
 * validate say why instead of falling back without a word.
 */
export function hasRelaxedSimd(): boolean {
  if (wasm.validate(RELAXED_SIMD_PROBE)) return true;
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return wasm.validate(RELAXED_SIMD_PROBE);
}

/**
 * Compiles the kernels: `preferred` if the engine has relaxed SIMD, else
 * plain SIMD.
 * dist/kernels/kernels{-fma,}.wasm are assembled from kernels.wat by the
 * package's build.
 */
export async function compileKernels(preferred: KernelVariant = "relaxed-simd"): Promise<{ module: WasmModule; variant: KernelVariant }> {
  if (preferred === "relaxed-simd" && hasRelaxedSimd()) {
    return { module: await wasm.compile(readKernels("kernels-fma.wasm")), variant: "relaxed-simd" };
  }
  return { module: await wasm.compile(readKernels("kernels.wasm")), variant: "simd" };
}

/** A shared memory of `pages` pages that can grow to `maxPages`. */
export function sharedMemory(pages: number, maxPages: number): WasmMemory {
  return new wasm.Memory({ initial: pages, maximum: maxPages, shared: true });
}

export function instantiate(module: WasmModule, memory: WasmMemory): KernelExports {
  return new wasm.Instance(module, { env: { memory } }).exports as KernelExports;
}

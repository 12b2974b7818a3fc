/**
 * V8 first runs a WebAssembly module with its baseline compiler and replaces
 * a function by optimized code only once it has run for a while: measured
 * here, the first 5 to 15 matmuls of each kernel ran 2 to 10 times slower. A
 * new pool therefore runs every kernel on a small zero-filled memory of its
 * own first. The optimized code belongs to the compiled module, which every
 * thread and every memory's instance shares, so this one thread's runs serve
 * them all.
 */
import { type WasmModule, instantiate, sharedMemory } from "./wasm.js";

/**
 * Calls of each kernel: with these sizes, enough for V8 to tier up every
 * function that runs per row or per position (checked with node
 * --trace-wasm-compilation-times); the few that run once per call stay on
 * the baseline code a little longer, at no cost that shows.
 */
const CALLS = 60;
const K = 256; // x columns, weight columns
const N = 64; // weight rows
const M = 4; // x rows for gemm
const HEAD_DIM = 64;
const POSITIONS = 1024; // cached positions for attend
const TASKS = 8; // attention tasks per call (all the same query)

// Byte offsets in the warm-up memory (64 KiB pages).
const X = 64; // f32 [M, K]
const XQ = 8192; // int16 [M, K]
const XS = 12288; // f32 [M]
const OUT = 16384; // f32 [M, N]
const SEGMENT = 20480; // attention's one segment (16 bytes)
const TABLE = 20544; // TASKS attention tasks (32 bytes each)
const Q = 24576; // f32 [HEAD_DIM], attention's query and, after it, its out
const SCORES = 28672; // f32 [POSITIONS]
const W = 65536; // [N, K] in any format, q8 scales after it: at most 64 KiB + 8 KiB
const KV = 196608; // f32 keys [POSITIONS, HEAD_DIM], then values: 512 KiB
const PAGES = 12;

export function warmUp(module: WasmModule): void {
  const memory = sharedMemory(PAGES, PAGES);
  const k = instantiate(module, memory);
  const ints = new Int32Array(memory.buffer);
  ints.set([KV, KV + POSITIONS * HEAD_DIM * 4, 0, POSITIONS], SEGMENT / 4);
  for (let t = 0; t < TASKS; t++) ints.set([Q, Q + HEAD_DIM * 4, POSITIONS, SEGMENT, 1, 0], TABLE / 4 + t * 8);
  const scales = W + N * K;
  for (let i = 0; i < CALLS; i++) {
    k.gemv_f32(X, W, K, 0, N, OUT, 0);
    k.gemm_f32(X, M, W, K, 0, N, OUT, N, 0);
    k.gemv_bf16(X, W, K, 0, N, OUT, 0);
    k.gemm_bf16(X, M, W, K, 0, N, OUT, N, 0);
    k.gemv_f16(X, W, K, 0, N, OUT, 0, 0);
    k.gemm_f16(X, M, W, K, 0, N, OUT, N, 0, 0);
    k.quantize_rows(X, M, K, XQ, XS);
    k.quantize_q8_row(X, K, 32, W, scales);
    k.gemv_q8(XQ, XS, W, scales, K, 32, 32, 0, N, OUT, 0);
    k.gemm_q8(XQ, XS, M, W, scales, K, 32, 32, 0, N, OUT, N, 0);
    k.attend(TABLE, 0, TASKS, HEAD_DIM, HEAD_DIM * 4, 0x3e000000 /* 0.125 */, SCORES);
    k.silu(X, OUT, M * K);
  }
}

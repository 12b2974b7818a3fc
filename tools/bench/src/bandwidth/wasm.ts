/** The little of the WebAssembly JS API the probe uses (the project's lib, ES2022 without DOM, declares none). */

export interface WasmModule {
  readonly __wasmModule: unique symbol;
}

export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}

export interface ReadExports {
  read(start: number, end: number, passes: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Instance: new (module: WasmModule, imports: { env: { memory: WasmMemory } }) => { exports: unknown };
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const PAGE_BYTES = 65536;

export function instantiateRead(module: WasmModule, memory: WasmMemory): ReadExports {
  return new wasm.Instance(module, { env: { memory } }).exports as ReadExports;
}

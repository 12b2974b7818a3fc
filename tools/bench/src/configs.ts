/**
 * The configurations the bench measures: an engine, the weights it runs and
 * the model shapes (a preset of @oar/make-tiny-model). Ids are short and
 * stable (`0.5b/static-int8-fused`): they name rows in the results, select
 * subsets (--only) and key the JSON.
 */
import { assertNever } from "@oar/tensor";

/** Model shapes measured: real Qwen2 shapes with random weights. */
export type BenchPreset = "qwen2-0.5b" | "qwen2-1.5b";
export const BENCH_PRESETS: readonly BenchPreset[] = ["qwen2-0.5b", "qwen2-1.5b"];

/** The weights of an exported graph: f32, or quantized by the exporter's weight-only passes (MatMulNBits). */
export type ExportWeights = "f32" | "int8" | "int4";
/** How the eager model stores its matrices (@oar/modeling's WeightStorage). */
export type EagerStorage = "f32" | "bf16" | "q8";
/** GGUF tensor types of the matrices, as ../shared/tools/gguf_qwen2.py writes them. */
export type GgufType = "f32" | "f16" | "q8_0" | "q4_0";
export type Engine =
  | { readonly kind: "dynamic"; readonly storage: EagerStorage }
  /**
   * @oar/runtime's sessions run onnxruntime's full set of graph optimisations (level "all"), so the
   * unfused graph measures what onnxruntime does alone: the baseline the fusion passes must beat.
   */
  | { readonly kind: "static"; readonly weights: ExportWeights; readonly fused: boolean }
  | { readonly kind: "transformers.js"; readonly weights: ExportWeights; readonly fused: boolean }
  | { readonly kind: "llama.cpp"; readonly type: GgufType };

export type EngineKind = Engine["kind"];

export interface Configuration {
  readonly id: string;
  readonly preset: BenchPreset;
  readonly engine: Engine;
}

/** "0.5b" from "qwen2-0.5b". */
export function presetTag(preset: BenchPreset): string {
  return preset.replace(/^qwen2-/, "");
}

export function configurationId(preset: BenchPreset, engine: Engine): string {
  return `${presetTag(preset)}/${engineTag(engine)}`;
}

function engineTag(e: Engine): string {
  switch (e.kind) {
    case "dynamic":
      return `dynamic-${e.storage}`;
    case "static":
      return `static-${e.weights}-${e.fused ? "fused" : "unfused"}`;
    case "transformers.js":
      return `tjs-${e.weights}-${e.fused ? "fused" : "unfused"}`;
    case "llama.cpp":
      return `llama.cpp-${e.type}`;
    default:
      return assertNever(e);
  }
}

export function configuration(preset: BenchPreset, engine: Engine): Configuration {
  return { id: configurationId(preset, engine), preset, engine };
}

/** The weight format a configuration's matrices have, for grouping (f32 / 16-bit / 8-bit / 4-bit). */
export type WeightClass = "f32" | "16-bit" | "8-bit" | "4-bit";

export function weightClass(e: Engine): WeightClass {
  switch (e.kind) {
    case "dynamic":
      return e.storage === "f32" ? "f32" : e.storage === "bf16" ? "16-bit" : "8-bit";
    case "static":
    case "transformers.js":
      return e.weights === "f32" ? "f32" : e.weights === "int8" ? "8-bit" : "4-bit";
    case "llama.cpp":
      return e.type === "f32" ? "f32" : e.type === "f16" ? "16-bit" : e.type === "q8_0" ? "8-bit" : "4-bit";
    default:
      return assertNever(e);
  }
}

/** One line for people: what runs, on what. */
export function describeEngine(e: Engine): string {
  switch (e.kind) {
    case "dynamic":
      return `Oar dynamic mode (eager WebAssembly kernels), ${e.storage === "bf16" ? "bf16-stored" : e.storage} weights`;
    case "static":
      return e.fused
        ? `Oar static mode (@oar/runtime on onnxruntime-node), ${e.weights} graph fused by Oar's passes (--inference_model), then onnxruntime's optimisations`
        : `Oar static mode (@oar/runtime on onnxruntime-node), ${e.weights} unfused graph with onnxruntime's own optimisations (level all) alone: the baseline for the fusion passes`;
    case "transformers.js":
      return `transformers.js model.generate on the same ${e.weights} ${e.fused ? "fused" : "unfused"} exported graph`;
    case "llama.cpp":
      return `llama.cpp (node-llama-cpp, CPU, 2 threads), GGUF ${e.type.toUpperCase()}`;
    default:
      return assertNever(e);
  }
}

const STATIC_GRAPHS: readonly { readonly weights: ExportWeights; readonly fused: boolean }[] = [
  { weights: "f32", fused: true },
  { weights: "f32", fused: false },
  { weights: "int8", fused: true },
  { weights: "int8", fused: false },
  { weights: "int4", fused: true },
  { weights: "int4", fused: false },
];

/**
 * Everything, for one preset: dynamic f32 / bf16 / q8; static f32 / int8 /
 * int4 fused and unfused; transformers.js on the same graphs, fused and
 * unfused; llama.cpp on F32 / F16 / Q8_0 / Q4_0.
 */
export function allConfigurations(preset: BenchPreset): Configuration[] {
  const engines: Engine[] = [
    { kind: "dynamic", storage: "f32" },
    { kind: "dynamic", storage: "bf16" },
    { kind: "dynamic", storage: "q8" },
    ...STATIC_GRAPHS.map((g): Engine => ({ kind: "static", ...g })),
    ...STATIC_GRAPHS.map((g): Engine => ({ kind: "transformers.js", ...g })),
    { kind: "llama.cpp", type: "f32" },
    { kind: "llama.cpp", type: "f16" },
    { kind: "llama.cpp", type: "q8_0" },
    { kind: "llama.cpp", type: "q4_0" },
  ];
  return engines.map((e) => configuration(preset, e));
}

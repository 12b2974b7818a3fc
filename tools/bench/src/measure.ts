/** One measurement of one configuration: the engine's own measuring code, chosen by the configuration. */
import { assertNever } from "@oar/tensor";
import { measureCausalLM } from "./engines/causal-lm.js";
import { loadDynamic } from "./engines/dynamic.js";
import { measureLlamaCpp } from "./engines/llama-cpp.js";
import { loadStatic } from "./engines/static.js";
import { measureTransformersJs } from "./engines/transformers-js.js";
import type { ChildSpec } from "./protocol.js";
import type { Sample } from "./workload.js";

export function measure(spec: ChildSpec): Promise<Sample> {
  const { engine } = spec.configuration;
  switch (engine.kind) {
    case "dynamic":
      return measureCausalLM(() => loadDynamic(spec.path, engine.storage, spec.positions), spec.workload);
    case "static":
      return measureCausalLM(
        () => loadStatic(spec.path, { batchSize: Math.max(1, spec.workload.batch), positions: spec.positions }),
        spec.workload,
      );
    case "transformers.js":
      return measureTransformersJs(spec.path, spec.workload);
    case "llama.cpp":
      return measureLlamaCpp(spec.path, spec.workload, spec.positions);
    default:
      return assertNever(engine);
  }
}

import type { RopeScaling } from "../config.js";
import { JsonConfig } from "./json-config.js";

/** The rotary settings of a config, however transformers wrote them. */
export interface RopeSettings {
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
}

/** The rope types Oar computes; any other is refused by name. */
const IMPLEMENTED = ["default", "linear", "llama3"] as const;

/**
 * Reads the rotary base and scaling from either layout transformers writes:
 *
 * - transformers 5: `rope_parameters: {"rope_type", "rope_theta", "factor", ...}`;
 * - transformers 4: top-level `rope_theta` and `rope_scaling: {"rope_type" | "type", "factor", ...}`.
 *
 * `defaultTheta` is the architecture's own default in transformers (its
 * config class's `rope_theta` default), used when neither layout names a base.
 * Both layouts at once must agree; a rope type or a partial rotary factor
 * Oar does not compute is an error naming the key and value.
 */
export function readRope(c: JsonConfig, defaultTheta: number): RopeSettings {
  const partial = c.raw("partial_rotary_factor");
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw c.error("partial_rotary_factor", `is ${JSON.stringify(partial)}: only rotary over the whole head (1.0) is implemented for this architecture`);
  }
  if (c.has("rope_parameters")) {
    const p = nested(c, "rope_parameters");
    if (c.has("rope_scaling")) {
      throw c.error("rope_scaling", "is set beside \"rope_parameters\": a config must use one layout (transformers 5 writes only rope_parameters)");
    }
    const theta = p.positiveNumber("rope_theta", c.has("rope_theta") ? c.positiveNumber("rope_theta") : defaultTheta);
    if (c.has("rope_theta") && c.positiveNumber("rope_theta") !== theta) {
      throw c.error("rope_theta", `is ${c.positiveNumber("rope_theta")} but "rope_parameters" says rope_theta ${theta}`);
    }
    return { ropeTheta: theta, ropeScaling: scaling(p, c, "rope_parameters") };
  }
  const theta = c.positiveNumber("rope_theta", defaultTheta);
  if (!c.has("rope_scaling")) return { ropeTheta: theta, ropeScaling: null };
  return { ropeTheta: theta, ropeScaling: scaling(nested(c, "rope_scaling"), c, "rope_scaling") };
}

function nested(c: JsonConfig, key: string): JsonConfig {
  const raw = c.raw(key);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw c.error(key, `must be an object, got ${JSON.stringify(raw)}`);
  const values = Object.values(raw);
  if (values.length > 0 && values.every((v) => typeof v === "object" && v !== null)) {
    throw c.error(key, "holds one set of rotary parameters per layer type, which this architecture does not use");
  }
  return new JsonConfig(raw as Record<string, unknown>, `${c.file} ${key}`);
}

function scaling(s: JsonConfig, c: JsonConfig, key: string): RopeScaling | null {
  // transformers 4.x wrote "type"; later versions "rope_type". Absent means the default rotary.
  const type = s.optionalString("rope_type") ?? s.optionalString("type") ?? "default";
  const partial = s.raw("partial_rotary_factor");
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw c.error(key, `has partial_rotary_factor ${JSON.stringify(partial)}: only rotary over the whole head (1.0) is implemented for this architecture`);
  }
  switch (type) {
    case "default":
      return null;
    case "linear":
      return { type: "linear", factor: s.positiveNumber("factor") };
    case "llama3":
      return {
        type: "llama3",
        factor: s.positiveNumber("factor"),
        lowFreqFactor: s.positiveNumber("low_freq_factor"),
        highFreqFactor: s.positiveNumber("high_freq_factor"),
        originalMaxPositions: s.positiveInt("original_max_position_embeddings"),
      };
    default:
      throw c.error(key, `has rope_type ${JSON.stringify(type)}, which Oar does not implement (implemented: ${IMPLEMENTED.join(", ")})`);
  }
}

/**
 * JSON schemas of the request bodies, checked by fastify (ajv) before a
 * handler runs, and the translation of ajv's first error into OpenAI's 400
 * naming the field. Fields not listed are allowed (and logged by the
 * handlers); optional fields may be null, as OpenAI's clients send them.
 */
import { ApiError } from "./errors.js";

/** The schema with null allowed too (one type list, so ajv reports one error for a bad value). */
const nullable = <T extends { readonly type: string }>(schema: T): Omit<T, "type"> & { readonly type: readonly [T["type"], "null"] } => ({ ...schema, type: [schema.type, "null"] as const });

/** Sampling and stopping fields both generation endpoints take. */
const SAMPLING = {
  model: nullable({ type: "string" }),
  max_tokens: nullable({ type: "integer", minimum: 1 }),
  temperature: nullable({ type: "number", minimum: 0, maximum: 2 }),
  top_p: nullable({ type: "number", exclusiveMinimum: 0, maximum: 1 }),
  top_k: nullable({ type: "integer", minimum: -1 }),
  min_p: nullable({ type: "number", minimum: 0, maximum: 1 }),
  presence_penalty: nullable({ type: "number", minimum: -2, maximum: 2 }),
  frequency_penalty: nullable({ type: "number", minimum: -2, maximum: 2 }),
  repetition_penalty: nullable({ type: "number", exclusiveMinimum: 0, maximum: 100 }),
  seed: nullable({ type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  stop: { anyOf: [{ type: "string", minLength: 1 }, { type: "array", maxItems: 4, items: { type: "string", minLength: 1 } }, { type: "null" }] },
  n: nullable({ type: "integer", minimum: 1, maximum: 128 }),
  stream: nullable({ type: "boolean" }),
  stream_options: nullable({ type: "object", properties: { include_usage: nullable({ type: "boolean" }) } }),
  ignore_eos: nullable({ type: "boolean" }),
} as const;

const TEXT_PART = {
  type: "object",
  required: ["type", "text"],
  properties: { type: { const: "text" }, text: { type: "string" } },
};

export const CHAT_SCHEMA = {
  type: "object",
  required: ["messages"],
  properties: {
    ...SAMPLING,
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role"],
        properties: {
          role: { enum: ["system", "developer", "user", "assistant"] },
          content: { anyOf: [{ type: "string" }, { type: "array", items: TEXT_PART }, { type: "null" }] },
          name: nullable({ type: "string" }),
        },
      },
    },
    max_completion_tokens: nullable({ type: "integer", minimum: 1 }),
    logprobs: nullable({ type: "boolean" }),
    top_logprobs: nullable({ type: "integer", minimum: 0, maximum: 20 }),
  },
} as const;

const TOKEN_IDS = { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } } as const;

export const COMPLETION_SCHEMA = {
  type: "object",
  required: ["prompt"],
  properties: {
    ...SAMPLING,
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", minItems: 1, items: { type: "string" } },
        TOKEN_IDS,
        { type: "array", minItems: 1, items: TOKEN_IDS },
      ],
    },
    logprobs: nullable({ type: "integer", minimum: 0, maximum: 20 }),
  },
} as const;

export const TOKENIZE_SCHEMA = {
  type: "object",
  properties: {
    model: nullable({ type: "string" }),
    prompt: { type: "string" },
    messages: CHAT_SCHEMA.properties.messages,
    add_special_tokens: nullable({ type: "boolean" }),
    add_generation_prompt: nullable({ type: "boolean" }),
  },
} as const;

export const DETOKENIZE_SCHEMA = {
  type: "object",
  required: ["tokens"],
  properties: { model: nullable({ type: "string" }), tokens: { type: "array", items: { type: "integer", minimum: 0 } } },
} as const;

/** How each union field is described when no branch matches. */
const UNION_HINTS: Readonly<Record<string, string>> = {
  stop: "a non-empty string or a list of at most 4 non-empty strings",
  prompt: "a string, a list of strings, a list of token ids or a list of token-id lists",
  content: "a string or a list of text parts ({\"type\": \"text\", \"text\": ...})",
};

/** One ajv error, as fastify hands it over. */
export interface SchemaError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** The 400 for the first schema error: the field's name in OpenAI's style (`messages[0].role`) and what is wrong. */
export function schemaError(errors: readonly SchemaError[]): ApiError {
  // For a union ajv lists each branch's complaint, then "must match a schema in anyOf": name the union.
  const error = errors.find((e) => e.keyword === "anyOf") ?? errors[0]!;
  const segments = error.instancePath.split("/").slice(1);
  if (error.keyword === "required") segments.push(String(error.params["missingProperty"]));
  const param = segments.reduce((name, s) => (/^\d+$/.test(s) ? `${name}[${s}]` : name === "" ? s : `${name}.${s}`), "");
  if (param === "") return new ApiError(400, "The request body must be a JSON object.", { param: null });
  if (error.keyword === "required") return new ApiError(400, `Missing required parameter: '${param}'.`, { param, code: "missing_required_parameter" });
  const last = segments.filter((s) => !/^\d+$/.test(s)).at(-1) ?? param;
  const message = error.keyword === "anyOf" ? `must be ${UNION_HINTS[last] ?? "of another type"}` : (error.message ?? "is invalid");
  const hint = error.keyword === "enum" ? ` (${(error.params["allowedValues"] as unknown[]).map((v) => JSON.stringify(v)).join(", ")})` : "";
  return new ApiError(400, `Invalid value for '${param}': ${message}${hint}.`, { param, code: "invalid_value" });
}

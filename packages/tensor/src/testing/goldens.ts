/**
 * Test support: the checkpoint-format goldens of testing/checkpoint-formats
 * (written by its make_goldens.py with real torch and numpy). Not exported
 * from index.ts.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The folder of goldens, from the repository root. */
export const GOLDENS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../testing/checkpoint-formats");

export interface GoldenTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** sha256 of the row-major little-endian bytes, as torch / numpy hold them. */
  readonly sha256: string;
}

export interface Golden {
  readonly original: string;
  readonly format: "safetensors" | "pytorch" | "pdparams";
  readonly naming: "huggingface" | "paddlenlp";
  readonly files: readonly string[];
  /** By the name stored in the file. */
  readonly tensors: Readonly<Record<string, GoldenTensor>>;
}

export interface HostileFile {
  readonly file: string;
  readonly kind: string;
  readonly what: string;
  readonly python_runs_payload: boolean;
  readonly torch_weights_only?: string;
}

export interface Expected {
  readonly originals: Readonly<Record<string, { readonly make_tiny_model: readonly string[]; readonly model_safetensors_sha256: string }>>;
  readonly goldens: Readonly<Record<string, Golden>>;
  readonly transformers_greedy: Readonly<Record<string, { readonly prompt: readonly number[]; readonly tokens: readonly number[] }>>;
  readonly hostile: readonly HostileFile[];
}

/** expected.json. */
export function expected(): Expected {
  return JSON.parse(fs.readFileSync(path.join(GOLDENS, "expected.json"), "utf8")) as Expected;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

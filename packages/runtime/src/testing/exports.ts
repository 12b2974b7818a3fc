/**
 * Inference directories for the tests, exported once per test file into a
 * temporary root (removed by `remove`), and greedy decoding through any
 * CausalLM, so static and eager models are compared by one function.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type ExportOptions, exportModel } from "@oar/export";
import type { CausalLM } from "@oar/generation";
import { argmax } from "@oar/tensor";

export interface Exports {
  /** The directory exported from `modelDir` with these options, under a name unique to them (made on first use). */
  dir(modelDir: string, options?: Omit<ExportOptions, "modelDir" | "outputDir">): Promise<string>;
  /** A fresh empty directory under the root. */
  scratch(name: string): string;
  remove(): void;
}

export function testExports(label: string): Exports {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `oar-runtime-${label}-`));
  const made = new Map<string, Promise<string>>();
  return {
    dir(modelDir, options = {}) {
      const key = JSON.stringify([modelDir, options]);
      let dir = made.get(key);
      if (dir === undefined) {
        const outputDir = path.join(root, `export-${made.size}`);
        dir = exportModel({ modelDir, outputDir, ...options }).then(() => outputDir);
        made.set(key, dir);
      }
      return dir;
    },
    scratch(name) {
      const dir = path.join(root, name);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    },
    remove() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}


/** Greedy continuation of `prompt` by `n` tokens, one forward call per token; the sequence is released after. */
export async function greedyTokens(model: CausalLM, prompt: readonly number[], n: number): Promise<number[]> {
  const seq = model.createSequence();
  try {
    const out: number[] = [];
    let [logits] = await model.forward([{ seq, tokens: prompt }]);
    for (let i = 0; i < n; i++) {
      const next = argmax(logits!);
      out.push(next);
      if (i + 1 < n) [logits] = await model.forward([{ seq, tokens: [next] }]);
    }
    return out;
  } finally {
    model.releaseSequence(seq);
  }
}

/**
 * Test support for the end-to-end tests: the real `predictor` bin run in a
 * child process, the tiny Qwen2-Instruct checkpoint they share, and a data
 * file of several kinds of prompts. Not exported from index.ts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";

/** apps/predictor/bin/predictor.js */
export const PREDICTOR_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/predictor.js");

/** The tiny random Qwen2-Instruct checkpoint (chat template, <|im_end|> as EOS), made once per machine. */
export function tinyInstructModel(): string {
  return cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
}

/** English, Chinese, a two-turn conversation, a target given as a list, a long prompt. */
export const SAMPLE_LINES: readonly string[] = [
  JSON.stringify({ src: "Give three tips for staying healthy.", tgt: "Eat well, move, sleep." }),
  JSON.stringify({ src: "解释一下“温故而知新”", tgt: "温习旧知识，获得新理解。" }),
  JSON.stringify({ src: ["What is the capital of France?", "Paris.", "And its population?"], tgt: ["About two million."] }),
  JSON.stringify({ src: "Write a haiku about the sea." }),
  JSON.stringify({ src: "目前全世界的经济都是为一个事情服务的，将有限的自然资源、人力资源和资本资源分配到不同的生产和服务领域，以最大化社会福利和经济效率。" }),
];

export interface BinResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a bin of this repository with Node, in `cwd`; resolves when it exits. */
export function runBin(bin: string, args: readonly string[], options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: { ...process.env, OAR_DEBUG: "", ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs the predictor. */
export function predictor(args: readonly string[], cwd: string): Promise<BinResult> {
  return runBin(PREDICTOR_BIN, args, { cwd });
}

/** The records of an output file. */
export function readOutput(file: string): { src: unknown; tgt: unknown; output: string }[] {
  const text = fs.readFileSync(file, "utf8");
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${file} does not end in a newline`);
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { src: unknown; tgt: unknown; output: string });
}

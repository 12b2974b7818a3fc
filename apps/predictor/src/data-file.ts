/**
 * The predictor's input: `--data_file` JSON lines, each
 * `{"src": ..., "tgt": ...}`. `src` is a prompt string, or a conversation:
 * a list of turns alternating user, assistant, user, ..., ending with the
 * user's turn to answer. `tgt` (optional) is the reference answer, copied
 * to the output as it is.
 */
import * as fs from "node:fs";
import { UsageError } from "@oar/cli";

/** PaddleNLP's seed prompt, used when no data file is given. */
export const DEFAULT_PROMPT =
  "目前全世界的经济都是为一个事情服务的，将有限的自然资源、人力资源和资本资源分配到不同的生产和服务领域，以最大化社会福利和经济效率。";

/** A prompt as the data file gives it: a string, or user/assistant turns ending with the user's. */
export type PromptSource = string | readonly string[];

/** One prompt of the input. */
export interface Prompt {
  /** Position in the input (0-based); the output file's line index. */
  readonly index: number;
  /** Line of the data file (1-based); null for the built-in prompt. */
  readonly line: number | null;
  readonly src: PromptSource;
  /** The reference answer as given (any JSON), "" when absent. */
  readonly tgt: unknown;
}

/** The built-in prompt, as the only input. */
export function defaultPrompts(): Prompt[] {
  return [{ index: 0, line: null, src: DEFAULT_PROMPT, tgt: "" }];
}

/** Reads and checks a data file; errors name the file and line. */
export function readDataFile(file: string): Prompt[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new UsageError(`--data_file ${file}: cannot read: ${reason}`);
  }
  return parseDataFile(text, `--data_file ${file}`);
}

/**
 * Parses JSON-lines text. Blank lines are skipped (line numbers still count
 * them); `where` starts every error message.
 */
export function parseDataFile(text: string, where: string): Prompt[] {
  const prompts: Prompt[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (raw.trim() === "") return;
    const line = i + 1;
    const at = `${where} line ${line}`;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      throw new UsageError(`${at}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new UsageError(`${at}: must be a JSON object like {"src": "...", "tgt": "..."}`);
    }
    const record = json as Record<string, unknown>;
    if (!("src" in record)) throw new UsageError(`${at}: has no "src" (the prompt)`);
    const src = checkSource(record["src"], at);
    prompts.push({ index: prompts.length, line, src, tgt: record["tgt"] ?? "" });
  });
  if (prompts.length === 0) throw new UsageError(`${where}: holds no prompts`);
  return prompts;
}

function checkSource(src: unknown, at: string): PromptSource {
  if (typeof src === "string") {
    if (src === "") throw new UsageError(`${at}: "src" is empty`);
    return src;
  }
  if (Array.isArray(src)) {
    const bad = src.findIndex((turn) => typeof turn !== "string");
    if (src.length === 0 || bad >= 0) {
      throw new UsageError(`${at}: "src" must be a string or a list of strings (turns alternating user, assistant, ..., user)${bad >= 0 ? `; turn ${bad + 1} is not a string` : "; the list is empty"}`);
    }
    if (src.length % 2 === 0) {
      throw new UsageError(`${at}: "src" has ${src.length} turns; a conversation alternates user, assistant, ... and ends with the user's turn, so it has an odd number`);
    }
    return src as string[];
  }
  throw new UsageError(`${at}: "src" must be a string or a list of strings, got ${src === null ? "null" : typeof src}`);
}

/** The conversation a source stands for: one user message, or the turns with their roles. */
export function promptMessages(src: PromptSource): { role: "user" | "assistant"; content: string }[] {
  if (typeof src === "string") return [{ role: "user", content: src }];
  return src.map((content, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content }));
}

/** Where a prompt came from, for messages: "line 3" of the data file, or "the built-in prompt". */
export function promptPlace(prompt: Prompt): string {
  return prompt.line === null ? "the built-in prompt" : `data file line ${prompt.line}`;
}

/**
 * Results on stdout, in input order, in PaddleNLP's layout (Source, Target,
 * Output). With `--stream`, the answer being printed grows token by token;
 * answers of later prompts that run in other slots meanwhile are held and
 * printed, caught up, when their turn comes, so streamed text never
 * interleaves.
 */
import type { Prompt } from "./data-file.js";

/** How a prompt's source and target read on the terminal. */
export function resultHeader(prompt: Prompt): string {
  const src = typeof prompt.src === "string" ? prompt.src : prompt.src.map((turn, i) => `${i % 2 === 0 ? "user" : "assistant"}: ${turn}`).join("\n");
  const tgt = typeof prompt.tgt === "string" ? prompt.tgt : JSON.stringify(prompt.tgt);
  return `***********Source**********\n${src}\n***********Target**********\n${tgt}\n***********Output**********\n`;
}

/** One finished result, printed whole. */
export function formatResult(prompt: Prompt, output: string): string {
  return `${resultHeader(prompt)}${output}\n`;
}

export interface StreamPrinter {
  /** Text of prompt `index` arrived (a token's piece, or the end's flush). */
  text(index: number, text: string): void;
  /** Prompt `index` has no more text. */
  end(index: number): void;
}

/**
 * Streams the answers of `prompts` (consecutive input indices) in order
 * through `write`. The first prompt's header is written at once.
 */
export function createStreamPrinter(prompts: readonly Prompt[], write: (text: string) => void): StreamPrinter {
  const first = prompts[0]?.index ?? 0;
  const held = new Map<number, string>();
  const ended = new Set<number>();
  let current = 0; // position in prompts of the answer being printed
  if (prompts.length > 0) write(resultHeader(prompts[0]!));

  const advance = (): void => {
    while (current < prompts.length && ended.has(prompts[current]!.index)) {
      write("\n");
      current++;
      if (current === prompts.length) return;
      const next = prompts[current]!;
      write(resultHeader(next) + (held.get(next.index) ?? ""));
      held.delete(next.index);
    }
  };

  return {
    text(index, text) {
      if (text === "") return;
      if (index === first + current) write(text);
      else held.set(index, (held.get(index) ?? "") + text);
    },
    end(index) {
      ended.add(index);
      advance();
    },
  };
}

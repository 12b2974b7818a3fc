/**
 * From a data file's prompts to the token ids the model sees: the chat
 * format (the tokenizer's template or its family's own builder, none, or a
 * template file), then encoding (templated text already holds its special
 * tokens, so none are added again), then `--src_length` truncation keeping
 * the most recent tokens (as the chat format cuts them).
 */
import { assertNever } from "@oar/tensor";
import type { OarTokenizer } from "@oar/tokenizer";
import { promptMessages, promptPlace, type Prompt } from "./data-file.js";
import { UsageError } from "@oar/cli";
import type { ChatTemplateFlag } from "./flags.js";

/** A prompt ready for the scheduler. */
export interface EncodedPrompt {
  readonly prompt: Prompt;
  readonly tokens: readonly number[];
  /** Tokens before `--src_length` truncation (equal to tokens.length when none was needed). */
  readonly originalLength: number;
}

/** The template a run uses: text to render with, or null for raw prompts. */
export interface ResolvedTemplate {
  /** Template text to pass to the tokenizer; undefined: the tokenizer's own. */
  readonly text: string | undefined;
  /** For messages: "the tokenizer's chat template", "--chat_template FILE". */
  readonly name: string;
}

/** The chat template `flag` asks for, given what the tokenizer has; null: prompts are encoded raw. */
export function resolveTemplate(flag: ChatTemplateFlag, tokenizer: OarTokenizer): ResolvedTemplate | null {
  switch (flag.kind) {
    case "tokenizer":
      if (tokenizer.chatFormat === null) return null;
      return {
        text: undefined,
        name: tokenizer.chatFormat === "template" ? "the tokenizer's chat template" : `the tokenizer's ${tokenizer.chatFormat} chat format`,
      };
    case "none":
      return null;
    case "file":
      return { text: flag.text, name: `--chat_template ${flag.path}` };
    default:
      return assertNever(flag);
  }
}

/**
 * Encodes every prompt. A conversation needs a chat format; a templated prompt
 * is encoded without adding special tokens; a raw one gets the tokenizer's
 * (a BOS for Llama, none for Qwen2). Errors name the data file line.
 */
export function encodePrompts(
  tokenizer: OarTokenizer,
  prompts: readonly Prompt[],
  options: { readonly template: ResolvedTemplate | null; readonly srcLength: number },
): EncodedPrompt[] {
  const { template, srcLength } = options;
  return prompts.map((prompt) => {
    const place = promptPlace(prompt);
    let encoded;
    if (template === null) {
      if (typeof prompt.src !== "string") {
        throw new UsageError(
          `${place}: "src" is a conversation, which needs a chat template; the tokenizer has none or --chat_template none was given (pass --chat_template FILE)`,
        );
      }
      try {
        encoded = tokenizer.encodeBatch([prompt.src], { srcLength });
      } catch (e) {
        throw new UsageError(`${place}: ${(e as Error).message.replace(/^srcLength/, "--src_length")}`);
      }
    } else {
      // The tokenizer builds the prompt ids (a template's text holds its own special tokens;
      // ChatGLM and Baichuan build theirs in code) and cuts them to --src_length.
      try {
        encoded = tokenizer.encodeChatBatch([promptMessages(prompt.src)], {
          addGenerationPrompt: true,
          srcLength,
          ...(template.text === undefined ? {} : { template: template.text }),
        });
      } catch (e) {
        const message = (e as Error).message;
        if (message.startsWith("srcLength")) throw new UsageError(`${place}: ${message.replace(/^srcLength/, "--src_length")}`);
        // The tokenizer names a template given as text "options.template"; the user knows it by its flag.
        throw new UsageError(`${place}: ${template.name}: ${message.replace(/^options\.template: /, "")}`);
      }
    }
    const tokens = encoded.inputIds[0]!;
    const truncation = encoded.truncations[0];
    return { prompt, tokens, originalLength: truncation?.originalLength ?? tokens.length };
  });
}

/** One warning line per truncated prompt. */
export function truncationWarnings(encoded: readonly EncodedPrompt[], srcLength: number): string[] {
  return encoded
    .filter((e) => e.originalLength > e.tokens.length)
    .map((e) => `${promptPlace(e.prompt)}: the prompt has ${e.originalLength} tokens; --src_length ${srcLength} keeps its last ${e.tokens.length}`);
}

/**
 * Chat prompts that are built in code rather than by a Jinja template:
 * ChatGLM2/3, GLM-4 and Baichuan ship a Python `build_chat_input` (or
 * `build_prompt`) instead of a `chat_template`, and the ids it builds are
 * not always the encoding of any one text (ChatGLM3 encodes the role line
 * and the message separately, each with its own "▁"). A ChatBuilder builds
 * exactly those ids, and a text form of the prompt for people.
 */
import type { ChatMessage } from "./chat-template.js";

/** How `encodeChat` builds a prompt: a Jinja chat template, or one family's own code. */
export type ChatFormatName = "template" | "chatglm2" | "chatglm3" | "glm4" | "baichuan";

export interface ChatBuilder {
  readonly format: Exclude<ChatFormatName, "template">;
  /** The prompt ids of a conversation, exactly as the model's remote code builds them. */
  ids(messages: readonly ChatMessage[], addGenerationPrompt: boolean): number[];
  /** The prompt as text, special tokens spelled out (for logs and echoes; encode `ids`, not this). */
  text(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string;
  /** The prompt cut to at most `limit` tokens the way the model's own code cuts it. */
  truncate(messages: readonly ChatMessage[], addGenerationPrompt: boolean, limit: number): number[];
}

/** What a builder needs from its tokenizer. */
export interface ChatBuildParts {
  /** The model's own encoding of a fragment (sentencepiece or tiktoken): no added tokens, no framing. */
  encodePlain(text: string): number[];
  /** transformers' `tokenizer.encode(text)`: added tokens recognised, special tokens added. */
  encode(text: string): number[];
  /** The id of a token the format needs; throws naming the token when the vocabulary lacks it. */
  idOf(token: string): number;
  /** The text of an id (for the text form of a prompt). */
  textOf(id: number): string;
}

/** The error for a message a format cannot express. */
export function chatError(format: string, message: string): Error {
  return new Error(`chat format ${format}: ${message}`);
}

/**
 * @oar/tokenizer: the tokenizer of a Hugging Face checkpoint directory.
 *
 * - `loadTokenizer(dir)` reads tokenizer.json (run by @huggingface/tokenizers),
 *   or a `tokenizer.model` (sentencepiece: Llama-2, Mistral, Mixtral,
 *   Baichuan, ChatGLM2/3; tiktoken: GLM-4), or GPT-2's vocab.json +
 *   merges.txt, with tokenizer_config.json (special tokens, chat templates)
 *   and generation_config.json (EOS ids); `createTokenizer` takes the same
 *   files already in memory.
 * - The tokenizer encodes one text or a left-padded batch (truncated from
 *   the left to `srcLength`), decodes with special tokens skipped, streams
 *   text token by token without splitting a character, and builds chat
 *   prompts: Jinja templates with @huggingface/jinja, or the family's own
 *   builder for ChatGLM2/3, GLM-4 and Baichuan (`chatFormat`).
 *
 * ```ts
 * import { loadTokenizer } from "@oar/tokenizer";
 * const tokenizer = await loadTokenizer("./Qwen2-0.5B-Instruct");
 * const ids = tokenizer.encodeChat([{ role: "user", content: "Hi" }]);
 * const stream = tokenizer.streamDecoder();
 * for (const id of generated) process.stdout.write(stream.push(id));
 * process.stdout.write(stream.flush());
 * ```
 */
export { loadTokenizer } from "./load.js";
export {
  createTokenizer,
  type BatchEncodeOptions,
  type ChatBatchOptions,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  type OarTokenizer,
  type TokenizerFiles,
  type TokenizerKind,
} from "./tokenizer.js";
export type { BatchEncoding, Truncation } from "./batch.js";
export type { ChatFormatName } from "./chat-format.js";
export type { ChatMessage } from "./chat-template.js";
export type { StreamDecoder } from "./stream-decoder.js";

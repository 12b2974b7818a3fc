/**
 * @oar/tokenizer: the tokenizer of a Hugging Face checkpoint directory.
 *
 * - `loadTokenizer(dir)` reads tokenizer.json (run by @huggingface/tokenizers),
 *   tokenizer_config.json (special tokens, chat templates) and
 *   generation_config.json (EOS ids); `createTokenizer` takes the same JSON
 *   already parsed.
 * - The tokenizer encodes one text or a left-padded batch (truncated from
 *   the left to `srcLength`), decodes with special tokens skipped, streams
 *   text token by token without splitting a character, and renders chat
 *   templates with @huggingface/jinja.
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
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  type OarTokenizer,
  type TokenizerFiles,
} from "./tokenizer.js";
export type { BatchEncoding, Truncation } from "./batch.js";
export type { ChatMessage } from "./chat-template.js";
export type { StreamDecoder } from "./stream-decoder.js";

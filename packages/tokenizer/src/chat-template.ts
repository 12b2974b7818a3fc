/**
 * Chat templates: the Jinja program in tokenizer_config.json that turns a
 * conversation into the exact prompt text a chat model was trained on.
 * Rendered with @huggingface/jinja, with the variables transformers'
 * `apply_chat_template` provides (the special tokens as text; jinja itself
 * defines `raise_exception` and `strftime_now`), so templates written for
 * Python render the same.
 */
import { Template } from "@huggingface/jinja";

/** One turn of a conversation. */
export interface ChatMessage {
  /** "system", "user", "assistant", or any role the template knows (e.g. "tool"). */
  role: string;
  content: string;
  /**
   * The text ChatGLM3 and GLM-4 write after the role token, on the role's
   * line (a tool's name on an assistant turn that calls it); empty when absent.
   * Templates may read it as `message.metadata`.
   */
  metadata?: string;
}

export interface RenderOptions {
  /** Append the opening of an assistant turn, so the model answers next. */
  addGenerationPrompt: boolean;
  /** Special tokens as text, by their tokenizer_config.json names: bos_token, eos_token, ... */
  specialTokens: Record<string, string | string[] | null>;
  /** Extra variables a template reads, e.g. `{ enable_thinking: false }` for Qwen3, or `tools`. */
  variables: Record<string, unknown>;
  /** Where the template came from, for error messages. */
  source: string;
}

/** A parsed template, reusable across renders. */
export function parseChatTemplate(text: string, source: string): Template {
  try {
    return new Template(text);
  } catch (error) {
    throw new Error(`${source}: the chat template does not parse: ${oneLine(error)}`);
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, " ").trim();
}

export function renderChatTemplate(
  template: Template,
  messages: readonly ChatMessage[],
  options: RenderOptions,
): string {
  const { addGenerationPrompt, specialTokens, variables, source } = options;
  try {
    return template.render({
      ...specialTokens,
      ...variables,
      messages,
      add_generation_prompt: addGenerationPrompt,
    });
  } catch (error) {
    // Includes the message of a template's own raise_exception("...").
    throw new Error(`${source}: rendering the chat template failed: ${oneLine(error)}`);
  }
}

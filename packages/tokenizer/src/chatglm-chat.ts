/**
 * The chat prompts of ChatGLM2, ChatGLM3 and GLM-4, as their remote
 * tokenizers (tokenization_chatglm.py) build them:
 *
 * - ChatGLM2 (`build_prompt`): one text, "[Round 1]\n\n问：{query}\n\n答：{answer}\n\n"
 *   per past round and "[Round n]\n\n问：{query}\n\n答：" for the last,
 *   encoded with the tokenizer's prefix `[gMASK]` `sop`.
 * - ChatGLM3 (`build_chat_input`): `[gMASK]` `sop`, then per message its
 *   role token, the sentencepiece ids of "{metadata}\n" and, separately, of
 *   its content; then `<|assistant|>`.
 * - GLM-4 (`apply_chat_template`): the same with `[gMASK]` `<sop>`, tiktoken
 *   ids, and messages with empty content left out.
 *
 * A prompt cut to a length keeps its first two ids (`[gMASK]` and `sop`,
 * which the model needs) and the most recent of the rest.
 */
import { chatError, type ChatBuilder, type ChatBuildParts } from "./chat-format.js";
import type { ChatMessage } from "./chat-template.js";

const GLM_ROLES = ["system", "user", "assistant", "observation"];

function checkRoles(format: string, messages: readonly ChatMessage[]): void {
  messages.forEach((m, i) => {
    if (!GLM_ROLES.includes(m.role)) {
      throw chatError(format, `message ${i} has role ${JSON.stringify(m.role)}; the roles are ${GLM_ROLES.join(", ")}`);
    }
  });
}

/** Keeps the first `keep` ids and the last `limit - keep` of the rest. */
function cutKeepingPrefix(format: string, ids: number[], keep: number, limit: number): number[] {
  if (!(Number.isInteger(limit) && limit > keep)) {
    throw chatError(format, `a prompt needs room for more than its ${keep} leading special tokens; the limit is ${limit}`);
  }
  return ids.length <= limit ? ids : [...ids.slice(0, keep), ...ids.slice(ids.length - (limit - keep))];
}

interface GlmOptions {
  format: "chatglm3" | "glm4";
  /** The start-of-piece token: "sop" (ChatGLM3) or "<sop>" (GLM-4). */
  sop: string;
  /** GLM-4 leaves out messages with no content. */
  skipEmpty: boolean;
}

function glmBuilder(parts: ChatBuildParts, options: GlmOptions): ChatBuilder {
  const { format, sop, skipEmpty } = options;
  const prefix = [parts.idOf("[gMASK]"), parts.idOf(sop)];
  const roleIds = new Map(GLM_ROLES.map((role) => [role, parts.idOf(`<|${role}|>`)]));
  const assistant = roleIds.get("assistant") as number;
  const kept = (messages: readonly ChatMessage[]) => {
    checkRoles(format, messages);
    return skipEmpty ? messages.filter((m) => m.content.length > 0) : messages;
  };
  const ids = (messages: readonly ChatMessage[], addGenerationPrompt: boolean): number[] => {
    const out = [...prefix];
    for (const m of kept(messages)) {
      out.push(roleIds.get(m.role) as number, ...parts.encodePlain(`${m.metadata ?? ""}\n`), ...parts.encodePlain(m.content));
    }
    if (addGenerationPrompt) out.push(assistant);
    return out;
  };
  return {
    format,
    ids,
    text(messages, addGenerationPrompt) {
      let text = `[gMASK]${sop}`;
      for (const m of kept(messages)) text += `<|${m.role}|>${m.metadata ?? ""}\n${m.content}`;
      return addGenerationPrompt ? `${text}<|assistant|>` : text;
    },
    truncate: (messages, addGenerationPrompt, limit) => cutKeepingPrefix(format, ids(messages, addGenerationPrompt), prefix.length, limit),
  };
}

/** ChatGLM3's builder over its sentencepiece model and the nine tokens after it. */
export function chatGlm3Builder(parts: ChatBuildParts): ChatBuilder {
  return glmBuilder(parts, { format: "chatglm3", sop: "sop", skipEmpty: false });
}

/** GLM-4's builder over its tiktoken model and added tokens. */
export function glm4Builder(parts: ChatBuildParts): ChatBuilder {
  return glmBuilder(parts, { format: "glm4", sop: "<sop>", skipEmpty: true });
}

/** ChatGLM2's prompt text: its rounds of 问 (question) and 答 (answer). */
function chatGlm2Text(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  const format = "chatglm2";
  if (!addGenerationPrompt) throw chatError(format, "its prompt always ends by opening the answer (addGenerationPrompt must be true)");
  if (messages.length === 0 || messages.length % 2 === 0) {
    throw chatError(format, `a conversation is user and assistant turns in turn, ending with the user; found ${messages.length} messages`);
  }
  messages.forEach((m, i) => {
    const expected = i % 2 === 0 ? "user" : "assistant";
    if (m.role !== expected) {
      throw chatError(format, `message ${i} must be ${expected} (ChatGLM2 has no system role; user and assistant alternate); found ${JSON.stringify(m.role)}`);
    }
  });
  let prompt = "";
  const rounds = (messages.length - 1) / 2;
  for (let i = 0; i < rounds; i++) {
    prompt += `[Round ${i + 1}]\n\n问：${messages[2 * i]!.content}\n\n答：${messages[2 * i + 1]!.content}\n\n`;
  }
  return `${prompt}[Round ${rounds + 1}]\n\n问：${messages[messages.length - 1]!.content}\n\n答：`;
}

/** ChatGLM2's builder: its prompt text, encoded with the tokenizer's `[gMASK]` `sop` prefix. */
export function chatGlm2Builder(parts: ChatBuildParts): ChatBuilder {
  const prefixLength = 2;
  const ids = (messages: readonly ChatMessage[], addGenerationPrompt: boolean) => parts.encode(chatGlm2Text(messages, addGenerationPrompt));
  return {
    format: "chatglm2",
    ids,
    text: (messages, addGenerationPrompt) => `[gMASK]sop${chatGlm2Text(messages, addGenerationPrompt)}`,
    truncate: (messages, addGenerationPrompt, limit) => cutKeepingPrefix("chatglm2", ids(messages, addGenerationPrompt), prefixLength, limit),
  };
}

/**
 * Baichuan's chat prompt, as its remote `build_chat_input`
 * (generation_utils.py of Baichuan2-*-Chat; Baichuan-13B-Chat's
 * `_build_chat_input` is the same) builds it: the system text's ids, then
 * per round (a user message and the replies after it) `user_token_id`
 * (195) or `assistant_token_id` (196) before each message's ids, and
 * `assistant_token_id` at the end unless the last message is the assistant's.
 * Every piece of text is encoded on its own with `tokenizer.encode`.
 *
 * Cutting to `maxInputTokens` (the model's context minus the tokens to
 * generate) works as the remote code does: keep whole rounds, newest first,
 * while they fit beside the system text (the newest round always), then cut
 * whatever is still too long from the left.
 */
import { chatError, type ChatBuilder, type ChatBuildParts } from "./chat-format.js";
import type { ChatMessage } from "./chat-template.js";

const FORMAT = "baichuan";

interface Rounds {
  system: string;
  rounds: ChatMessage[][];
}

function parseMessages(messages: readonly ChatMessage[]): Rounds {
  if (messages.length === 0) throw chatError(FORMAT, "the conversation has no messages");
  let system = "";
  const rounds: ChatMessage[][] = [];
  let round: ChatMessage[] = [];
  messages.forEach((m, i) => {
    if (m.role === "system") {
      if (i !== 0) throw chatError(FORMAT, `message ${i} is a system message; only the first message may be`);
      system = m.content;
      return;
    }
    if (m.role !== "user" && m.role !== "assistant") {
      throw chatError(FORMAT, `message ${i} has role ${JSON.stringify(m.role)}; the roles are system, user, assistant`);
    }
    if (m.role === "user" && round.length > 0) {
      rounds.push(round);
      round = [];
    }
    round.push(m);
  });
  if (round.length > 0) rounds.push(round);
  return { system, rounds };
}

export function baichuanBuilder(parts: ChatBuildParts, roles: { userTokenId: number; assistantTokenId: number }): ChatBuilder {
  const { userTokenId, assistantTokenId } = roles;

  const build = (messages: readonly ChatMessage[], addGenerationPrompt: boolean, maxInputTokens: number): number[] => {
    if (!(Number.isInteger(maxInputTokens) && maxInputTokens > 0)) {
      throw chatError(FORMAT, `the prompt's token limit must be a whole number above 0; found ${maxInputTokens}`);
    }
    const { system, rounds } = parseMessages(messages);
    const systemIds = parts.encode(system);
    const maxHistory = maxInputTokens - systemIds.length;
    let history: number[] = [];
    for (let r = rounds.length - 1; r >= 0; r--) {
      const roundIds: number[] = [];
      for (const m of rounds[r]!) roundIds.push(m.role === "user" ? userTokenId : assistantTokenId, ...parts.encode(m.content));
      if (history.length === 0 || history.length + roundIds.length <= maxHistory) {
        history = [...roundIds, ...history];
        if (history.length < maxHistory) continue;
      }
      break;
    }
    const ids = [...systemIds, ...history];
    if (addGenerationPrompt && messages[messages.length - 1]!.role !== "assistant") ids.push(assistantTokenId);
    return ids.slice(Math.max(0, ids.length - maxInputTokens));
  };

  return {
    format: FORMAT,
    ids: (messages, addGenerationPrompt) => build(messages, addGenerationPrompt, Number.MAX_SAFE_INTEGER),
    text(messages, addGenerationPrompt) {
      const { system, rounds } = parseMessages(messages);
      let text = system;
      for (const m of rounds.flat()) text += parts.textOf(m.role === "user" ? userTokenId : assistantTokenId) + m.content;
      if (addGenerationPrompt && messages[messages.length - 1]!.role !== "assistant") text += parts.textOf(assistantTokenId);
      return text;
    },
    truncate: build,
  };
}

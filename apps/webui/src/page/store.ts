/**
 * What the page keeps in localStorage: the settings, the API key, and the
 * conversation. Everything read back is checked field by field (storage is
 * shared by every page of this origin and may hold anything); what does not
 * fit falls back to the default.
 */

export type Mode = "chat" | "completion";

export interface Settings {
  /** null: chat when the model has a chat template, else completion. */
  readonly mode: Mode | null;
  readonly systemPrompt: string;
  /** [0, 2]; 0 is greedy. */
  readonly temperature: number;
  /** (0, 1]. */
  readonly topP: number;
  /** null: as many as fit in the model's length. */
  readonly maxTokens: number | null;
}

export const DEFAULT_SETTINGS: Settings = { mode: null, systemPrompt: "", temperature: 0.8, topP: 0.95, maxTokens: null };

/** How a reply went, shown under it. */
export interface ReplyStats {
  readonly tokens: number;
  /** Tokens per second from the first token to the end; null for a reply of one token or none. */
  readonly tokensPerSecond: number | null;
  /** The finish_reason, or "aborted" when stopped in the page. */
  readonly finish: string;
}

export interface Message {
  readonly role: "user" | "assistant";
  readonly mode: Mode;
  content: string;
  stats?: ReplyStats;
}

const KEYS = { settings: "oar.settings", apiKey: "oar.apiKey", conversation: "oar.conversation" } as const;

export function inRange(value: unknown, min: number, max: number, minOpen = false): value is number {
  return typeof value === "number" && Number.isFinite(value) && (minOpen ? value > min : value >= min) && value <= max;
}

/** Checks settings from any source (storage, the form): each field that does not fit is the default's. */
export function checkSettings(value: unknown): Settings {
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const d = DEFAULT_SETTINGS;
  return {
    mode: v["mode"] === "chat" || v["mode"] === "completion" ? v["mode"] : d.mode,
    systemPrompt: typeof v["systemPrompt"] === "string" ? v["systemPrompt"] : d.systemPrompt,
    temperature: inRange(v["temperature"], 0, 2) ? v["temperature"] : d.temperature,
    topP: inRange(v["topP"], 0, 1, true) ? v["topP"] : d.topP,
    maxTokens: Number.isSafeInteger(v["maxTokens"]) && (v["maxTokens"] as number) >= 1 ? (v["maxTokens"] as number) : d.maxTokens,
  };
}

export function loadSettings(): Settings {
  return checkSettings(readJson(KEYS.settings));
}

export function saveSettings(settings: Settings): void {
  write(KEYS.settings, JSON.stringify(settings));
}

export function loadApiKey(): string {
  const key = read(KEYS.apiKey);
  return key ?? "";
}

export function saveApiKey(key: string): void {
  if (key === "") remove(KEYS.apiKey);
  else write(KEYS.apiKey, key);
}

export function loadConversation(): Message[] {
  const value = readJson(KEYS.conversation);
  if (!Array.isArray(value)) return [];
  const messages: Message[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== "object" || item === null) continue;
    const m = item as Record<string, unknown>;
    if ((m["role"] !== "user" && m["role"] !== "assistant") || typeof m["content"] !== "string") continue;
    const message: Message = { role: m["role"], mode: m["mode"] === "completion" ? "completion" : "chat", content: m["content"] };
    const stats = m["stats"] as Record<string, unknown> | undefined;
    if (typeof stats === "object" && stats !== null && Number.isSafeInteger(stats["tokens"]) && typeof stats["finish"] === "string") {
      message.stats = {
        tokens: stats["tokens"] as number,
        tokensPerSecond: inRange(stats["tokensPerSecond"], 0, Number.MAX_VALUE) ? stats["tokensPerSecond"] : null,
        finish: stats["finish"],
      };
    }
    messages.push(message);
  }
  return messages;
}

export function saveConversation(messages: readonly Message[]): void {
  if (messages.length === 0) remove(KEYS.conversation);
  else write(KEYS.conversation, JSON.stringify(messages));
}

// Storage can be switched off or full; the page then works without remembering.
function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function readJson(key: string): unknown {
  const text = read(key);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Not remembered: see read().
  }
}

function remove(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    // See read().
  }
}

/**
 * The chat page: a conversation streamed from oar-server's
 * /v1/chat/completions (or /v1/completions for a model without a chat
 * template), with Stop, New chat and settings kept in localStorage. Text a
 * user typed is shown as text; text a model wrote goes through
 * renderMarkdown (marked, then DOMPurify).
 */
import { ApiError, countTokens, fetchModel, streamText, type ModelInfo } from "./api.ts";
import { renderMarkdown } from "./render.ts";
import {
  checkSettings,
  loadApiKey,
  loadConversation,
  loadSettings,
  saveApiKey,
  saveConversation,
  saveSettings,
  type Message,
  type Mode,
  type ReplyStats,
} from "./store.ts";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const modelLabel = element("model");
const notice = element("notice");
const scroller = element("scroller");
const log = element("log");
const composer = element<HTMLFormElement>("composer");
const input = element<HTMLTextAreaElement>("input");
const sendButton = element<HTMLButtonElement>("send");
const stopButton = element<HTMLButtonElement>("stop");
const newChatButton = element<HTMLButtonElement>("new-chat");
const settingsButton = element<HTMLButtonElement>("open-settings");
const dialog = element<HTMLDialogElement>("settings");
const settingsNotice = element("settings-notice");
const fields = {
  mode: element<HTMLSelectElement>("mode"),
  systemPrompt: element<HTMLTextAreaElement>("system-prompt"),
  temperature: element<HTMLInputElement>("temperature"),
  topP: element<HTMLInputElement>("top-p"),
  maxTokens: element<HTMLInputElement>("max-tokens"),
  apiKey: element<HTMLInputElement>("api-key"),
};

let settings = loadSettings();
let apiKey = loadApiKey();
let model: ModelInfo | null = null;
let conversation: Message[] = loadConversation();
/** The reply being streamed, if any. */
let running: AbortController | null = null;

/** Chat unless the model has no chat template or the settings ask for completion. */
function currentMode(): Mode {
  if (model !== null && !model.hasChatTemplate) return "completion";
  return settings.mode ?? "chat";
}

// ---- the conversation view ----

interface MessageView {
  readonly article: HTMLElement;
  readonly body: HTMLElement;
}

function messageView(message: Message): MessageView {
  const article = document.createElement("article");
  article.className = `message ${message.role}`;
  const who = document.createElement("p");
  who.className = "who";
  who.textContent = message.role === "user" ? "You" : message.mode === "completion" ? "Model (completion)" : "Model";
  const body = document.createElement("div");
  // A completion's prompt and its continuation are one text (often code): both monospaced.
  body.className = message.mode === "completion" ? "body plain" : message.role === "user" ? "body" : "body markdown";
  article.append(who, body);
  const view = { article, body };
  paint(view, message);
  return view;
}

/** Fills a view from its message: a user's text and a completion as text, a chat reply as sanitised markdown. */
function paint(view: MessageView, message: Message): void {
  if (message.role === "assistant" && message.mode === "chat") view.body.replaceChildren(renderMarkdown(message.content));
  else view.body.textContent = message.content;
  if (message.stats !== undefined) {
    const stats = document.createElement("p");
    stats.className = "stats";
    stats.textContent = statsText(message.stats);
    view.article.dataset["finish"] = message.stats.finish;
    view.article.querySelector(".stats")?.remove();
    view.article.append(stats);
  }
}

function statsText(stats: ReplyStats): string {
  const parts = [`${stats.tokens} token${stats.tokens === 1 ? "" : "s"}`];
  if (stats.tokensPerSecond !== null) parts.push(`${stats.tokensPerSecond.toFixed(1)} tokens/s`);
  parts.push(stats.finish === "aborted" ? "stopped" : `finish: ${stats.finish}`);
  return parts.join(" · ");
}

function showError(view: MessageView, text: string): void {
  const error = document.createElement("p");
  error.className = "error";
  error.setAttribute("role", "alert");
  error.textContent = text;
  view.article.append(error);
}

function nearBottom(): boolean {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToEnd(): void {
  scroller.scrollTop = scroller.scrollHeight;
}

function showConversation(): void {
  log.replaceChildren(...conversation.map((m) => messageView(m).article));
  scrollToEnd();
}

// ---- sending ----

/** What a message becomes on the wire: the chat history (system prompt first), or a completion's prompt. */
function requestBody(mode: Mode, id: string, prompt: string, history: readonly Message[]): Record<string, unknown> {
  const sampling = { model: id, temperature: settings.temperature, top_p: settings.topP };
  if (mode === "completion") return { ...sampling, prompt };
  const messages = [
    ...(settings.systemPrompt.trim() === "" ? [] : [{ role: "system", content: settings.systemPrompt }]),
    ...history.filter((m) => m.mode === "chat" && m.content !== "").map((m) => ({ role: m.role, content: m.content })),
    { role: "user", content: prompt },
  ];
  return { ...sampling, messages, ...(settings.maxTokens === null ? {} : { max_tokens: settings.maxTokens }) };
}

async function send(text: string, served: ModelInfo): Promise<void> {
  const mode = currentMode();
  const target = conversation;
  const history = target.slice();
  const user: Message = { role: "user", mode, content: text };
  const reply: Message = { role: "assistant", mode, content: "" };
  const wasNearBottom = nearBottom();
  log.append(messageView(user).article);
  const view = messageView(reply);
  view.article.setAttribute("aria-busy", "true");
  log.append(view.article);
  if (wasNearBottom) scrollToEnd();

  const controller = new AbortController();
  running = controller;
  setRunning(true);
  let pieces = 0;
  let first: number | null = null;
  let painting = false;
  const repaint = (): void => {
    painting = false;
    const follow = nearBottom();
    paint(view, reply);
    if (follow) scrollToEnd();
  };
  const onText = (piece: string): void => {
    reply.content += piece;
    pieces++;
    first ??= performance.now();
    if (!painting) {
      painting = true;
      requestAnimationFrame(repaint);
    }
  };
  const finish = (finishReason: string, tokens: number): void => {
    const seconds = first === null ? 0 : (performance.now() - first) / 1000;
    reply.stats = { tokens, tokensPerSecond: tokens > 1 && seconds > 0 ? (tokens - 1) / seconds : null, finish: finishReason };
  };
  let failed = false;
  try {
    const body = requestBody(mode, served.id, text, history);
    if (mode === "completion") {
      // /v1/completions gives 16 tokens by default; offer all the room left instead, as chat does.
      const room = settings.maxTokens ?? (served.maxModelLen === null ? null : served.maxModelLen - (await countTokens(apiKey, served.id, text, controller.signal)));
      if (room !== null && room > 0) body["max_tokens"] = room;
    }
    const end = await streamText(mode === "chat" ? "/v1/chat/completions" : "/v1/completions", apiKey, body, controller.signal, onText);
    finish(end.finishReason ?? "stop", end.completionTokens ?? pieces);
  } catch (e) {
    if (controller.signal.aborted) {
      finish("aborted", pieces);
    } else {
      failed = true;
      showError(view, e instanceof ApiError ? `Error: ${e.message}` : `Error: ${(e as Error).message}`);
    }
  } finally {
    running = null;
    setRunning(false);
    view.article.removeAttribute("aria-busy");
    repaint();
  }
  // A failed turn is left out of the history (templates often require user and assistant to alternate);
  // after New chat the turn belongs to no conversation.
  if (!failed && target === conversation) {
    conversation.push(user, reply);
    saveConversation(conversation);
  }
}

function setRunning(on: boolean): void {
  stopButton.disabled = !on;
  sendButton.disabled = on || model === null;
}

function stop(): void {
  running?.abort();
}

// ---- the model, and the settings ----

let retry: ReturnType<typeof setTimeout> | null = null;

async function connect(): Promise<void> {
  if (retry !== null) clearTimeout(retry);
  retry = null;
  try {
    model = await fetchModel(apiKey);
    modelLabel.textContent = `${model.id}${model.hasChatTemplate ? "" : " (no chat template: completion mode)"}`;
    modelLabel.title = modelLabel.textContent;
    notice.hidden = true;
    setRunning(running !== null);
  } catch (e) {
    model = null;
    setRunning(running !== null);
    const status = e instanceof ApiError ? e.status : 0;
    if (status === 401) {
      modelLabel.textContent = "API key needed";
      showNotice("This server needs an API key: enter it in Settings.");
      openSettings("This server needs an API key.");
      return;
    }
    modelLabel.textContent = status === 503 ? "Loading the model…" : "Not connected";
    if (status !== 503) showNotice(`Cannot reach the server's /v1/models (${(e as Error).message}); retrying.`);
    retry = setTimeout(() => void connect(), status === 503 ? 1000 : 3000);
  }
}

function showNotice(text: string): void {
  notice.textContent = text;
  notice.hidden = false;
}

function openSettings(message: string | null = null): void {
  settingsNotice.hidden = message === null;
  settingsNotice.textContent = message ?? "";
  fields.mode.value = settings.mode ?? "";
  const chatOption = fields.mode.querySelector<HTMLOptionElement>('option[value="chat"]');
  if (chatOption !== null) chatOption.disabled = model !== null && !model.hasChatTemplate;
  fields.systemPrompt.value = settings.systemPrompt;
  fields.temperature.value = String(settings.temperature);
  fields.topP.value = String(settings.topP);
  fields.maxTokens.value = settings.maxTokens === null ? "" : String(settings.maxTokens);
  fields.apiKey.value = apiKey;
  dialog.returnValue = "";
  if (!dialog.open) dialog.showModal();
  if (message !== null) fields.apiKey.focus();
}

dialog.addEventListener("close", () => {
  if (dialog.returnValue !== "save") return;
  const number = (field: HTMLInputElement): number | null => (field.value.trim() === "" ? null : Number(field.value));
  settings = checkSettings({
    mode: fields.mode.value === "" ? null : fields.mode.value,
    systemPrompt: fields.systemPrompt.value,
    temperature: number(fields.temperature),
    topP: number(fields.topP),
    maxTokens: number(fields.maxTokens),
  });
  saveSettings(settings);
  const key = fields.apiKey.value.trim();
  if (key !== apiKey) {
    apiKey = key;
    saveApiKey(key);
    void connect();
  }
});

// ---- keyboard and buttons ----

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  } else if (event.key === "Escape" && running !== null) {
    event.preventDefault();
    stop();
  }
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (text.trim() === "" || running !== null || model === null) return;
  input.value = "";
  void send(text, model);
});

stopButton.addEventListener("click", () => {
  stop();
  input.focus();
});

newChatButton.addEventListener("click", () => {
  stop();
  conversation = [];
  saveConversation(conversation);
  log.replaceChildren();
  input.focus();
});

settingsButton.addEventListener("click", () => openSettings());
element<HTMLButtonElement>("cancel-settings").addEventListener("click", () => dialog.close("cancel"));

showConversation();
void connect();
input.focus();

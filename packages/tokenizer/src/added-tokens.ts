/**
 * Added tokens, as transformers' Python ("slow") tokenizers handle them:
 * tokens listed in tokenizer_config.json's `added_tokens_decoder` plus the
 * special tokens it names are cut out of the text before the model sees it
 * (the longest token starting at the leftmost place wins), with the
 * whitespace their `lstrip`/`rstrip` flags eat; the model encodes the rest
 * piece by piece. This is how a chat template's `<|user|>` or `</s>` written
 * as text becomes one id.
 */
import { describeValue } from "./config.js";

export interface AddedToken {
  content: string;
  id: number;
  /** Skipped by `decode` with skipSpecialTokens. */
  special: boolean;
  /** Eats the whitespace on its left. */
  lstrip: boolean;
  /** Eats the whitespace on its right. */
  rstrip: boolean;
  /** Only matches as a whole word. */
  singleWord: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads tokenizer_config.json's `added_tokens_decoder` (id -> token); `file` names it in errors. */
export function parseAddedTokensDecoder(config: unknown, file: string): AddedToken[] {
  if (!isObject(config)) return [];
  const table = config.added_tokens_decoder;
  if (table === undefined || table === null) return [];
  if (!isObject(table)) {
    throw new Error(`${file}: added_tokens_decoder must map ids to tokens; found ${describeValue(table)}`);
  }
  return Object.entries(table).map(([key, value]) => {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) {
      throw new Error(`${file}: added_tokens_decoder key ${JSON.stringify(key)} is not a token id`);
    }
    if (!isObject(value) || typeof value.content !== "string" || value.content.length === 0) {
      throw new Error(`${file}: added_tokens_decoder["${key}"] must have a non-empty string "content"; found ${describeValue(value)}`);
    }
    const flag = (name: string): boolean => {
      const v = value[name];
      if (v === undefined || v === null) return false;
      if (typeof v !== "boolean") throw new Error(`${file}: added_tokens_decoder["${key}"].${name} must be true or false; found ${describeValue(v)}`);
      return v;
    };
    return {
      content: value.content,
      id,
      special: flag("special"),
      lstrip: flag("lstrip"),
      rstrip: flag("rstrip"),
      singleWord: flag("single_word"),
    };
  });
}

/** A piece of text after splitting: plain text for the model, or an added token. */
export type Segment = string | AddedToken;

interface Node {
  next: Map<string, Node>;
  token: AddedToken | null;
}

export interface AddedTokenSplitter {
  split(text: string): Segment[];
}

/** Builds a splitter over `tokens` (a later token with the same content replaces an earlier one). */
export function createAddedTokenSplitter(tokens: readonly AddedToken[]): AddedTokenSplitter {
  const root: Node = { next: new Map(), token: null };
  for (const token of tokens) {
    let node = root;
    for (const ch of token.content) {
      let child = node.next.get(ch);
      if (child === undefined) {
        child = { next: new Map(), token: null };
        node.next.set(ch, child);
      }
      node = child;
    }
    node.token = token;
  }

  /** The longest token starting at `pos` and where it ends. */
  function longestAt(text: string, pos: number): { token: AddedToken; end: number } | null {
    let node: Node | undefined = root;
    let best: { token: AddedToken; end: number } | null = null;
    let i = pos;
    while (i < text.length) {
      const cp = text.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      node = node.next.get(ch);
      if (node === undefined) break;
      i += ch.length;
      if (node.token !== null) best = { token: node.token, end: i };
    }
    return best;
  }

  return {
    split(text) {
      if (root.next.size === 0 || text.length === 0) return text.length === 0 ? [] : [text];
      const parts: Segment[] = [];
      let plainStart = 0;
      for (let i = 0; i < text.length; ) {
        const m = longestAt(text, i);
        if (m === null) {
          i += (text.codePointAt(i) as number) > 0xffff ? 2 : 1;
          continue;
        }
        if (i > plainStart) parts.push(text.slice(plainStart, i));
        parts.push(m.token);
        i = m.end;
        plainStart = i;
      }
      if (plainStart < text.length) parts.push(text.slice(plainStart));
      return applyStripping(parts);
    },
  };
}

/** The whitespace Python's str.lstrip()/rstrip() remove (str.isspace()). */
const PY_SPACE = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const LEADING_SPACE = new RegExp(`^${PY_SPACE}+`);
const TRAILING_SPACE = new RegExp(`${PY_SPACE}+$`);

/** transformers' handling of lstrip, rstrip and single_word, then dropping emptied text. */
function applyStripping(parts: Segment[]): Segment[] {
  for (let i = 0; i < parts.length; i++) {
    const token = parts[i];
    if (typeof token === "string") continue;
    const left = parts[i - 1];
    const right = parts[i + 1];
    if (token.rstrip && typeof right === "string") parts[i + 1] = right.replace(LEADING_SPACE, "");
    if (token.lstrip && typeof left === "string") parts[i - 1] = left.replace(TRAILING_SPACE, "");
    if (token.singleWord && typeof left === "string" && left.length > 0 && !left.endsWith(" ")) {
      parts[i - 1] = left + token.content;
      parts[i] = "";
    } else if (token.singleWord && typeof right === "string" && right.length > 0 && !right.startsWith(" ")) {
      parts[i + 1] = token.content + right;
      parts[i] = "";
    }
  }
  return parts.filter((p) => typeof p !== "string" || p.length > 0);
}

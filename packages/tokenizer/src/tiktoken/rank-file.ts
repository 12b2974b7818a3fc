/**
 * tiktoken's rank file: one token per line, its bytes in base64, a space,
 * and its rank (GLM-4's `tokenizer.model`; OpenAI's `*.tiktoken`). The rank
 * is both the merge priority and the token id.
 */

export interface RankTable {
  /** Token bytes as a byte string (one char per byte) -> rank. */
  readonly ranks: ReadonlyMap<string, number>;
  /** Rank -> token bytes as a byte string. */
  readonly tokens: readonly string[];
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether bytes look like a rank file rather than a protobuf (its first line is "base64 number"). */
export function looksLikeRankFile(bytes: Uint8Array): boolean {
  const end = bytes.indexOf(0x0a);
  const first = Buffer.from(bytes.subarray(0, end < 0 ? Math.min(bytes.length, 200) : end)).toString("latin1");
  const m = /^(\S+) (\d+)\r?$/.exec(first);
  return m !== null && BASE64.test(m[1] as string);
}

/**
 * Parses a rank file; `file` names it in errors. Ranks must be 0..n-1, each
 * once, tokens distinct, and every single byte a token (so any text encodes).
 */
export function parseRankFile(bytes: Uint8Array, file: string): RankTable {
  const text = Buffer.from(bytes).toString("latin1");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const tokens: string[] = new Array(lines.length);
  const ranks = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const parts = line.split(" ");
    const where = `${file}: line ${i + 1}`;
    if (parts.length !== 2 || !BASE64.test(parts[0] as string) || !/^\d+$/.test(parts[1] as string)) {
      throw new Error(`${where}: expected "<base64 token> <rank>"; found ${JSON.stringify(line.slice(0, 60))}`);
    }
    const token = Buffer.from(parts[0] as string, "base64").toString("latin1");
    const rank = Number(parts[1]);
    if (token.length === 0) throw new Error(`${where}: the token is empty`);
    if (rank >= lines.length) throw new Error(`${where}: rank ${rank} is not below the ${lines.length} tokens of the file`);
    if (tokens[rank] !== undefined) throw new Error(`${where}: rank ${rank} is given twice`);
    if (ranks.has(token)) throw new Error(`${where}: the token is listed twice`);
    tokens[rank] = token;
    ranks.set(token, rank);
  });
  for (let b = 0; b < 256; b++) {
    if (!ranks.has(String.fromCharCode(b))) {
      throw new Error(`${file}: byte 0x${b.toString(16).padStart(2, "0")} is not a token; a rank file needs all 256 single bytes`);
    }
  }
  return { ranks, tokens };
}

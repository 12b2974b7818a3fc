/**
 * transformers' `clean_up_tokenization`: removes the space a word-level
 * tokenizer left before punctuation and English contractions. It applies
 * when tokenizer_config.json sets `clean_up_tokenization_spaces` (Llama 3's
 * does). Each replacement runs over the whole text, in this order, as in
 * transformers.
 */
const REPLACEMENTS: ReadonlyArray<readonly [string, string]> = [
  [" .", "."],
  [" ?", "?"],
  [" !", "!"],
  [" ,", ","],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

export function cleanUpTokenization(text: string): string {
  let out = text;
  for (const [from, to] of REPLACEMENTS) out = out.replaceAll(from, to);
  return out;
}

/**
 * Characters that may follow a space which a replacement deletes, and the
 * space itself (a second space can be absorbed by a " ' " match).
 */
const MAY_START_A_MATCH = new Set([".", "?", "!", ",", "'", "n", " "]);

/**
 * The largest index `cut` (0 if none) at which the cleanup of `text` splits:
 * for ANY continuation `rest`,
 * `cleanUpTokenization(text + rest) === cleanUpTokenization(text.slice(0, cut)) + cleanUpTokenization(text.slice(cut) + rest)`.
 *
 * Every pattern starts with a space and contains no other space but the
 * last character of " ' ". So a cut just before a space is safe when no
 * match can start at that space (the next character rules it out) and the
 * space cannot close a " ' " (the two characters before it are not " '").
 * A cut is only taken at index 2 or later so both characters before it are
 * in `text`, and never at the last character, whose successor is unknown.
 * A streaming decoder emits the cleaned text up to the cut and keeps the rest.
 */
export function safeCleanUpCut(text: string): number {
  for (let cut = text.length - 2; cut >= 2; cut--) {
    if (
      text[cut] === " " &&
      !MAY_START_A_MATCH.has(text[cut + 1] as string) &&
      !(text[cut - 2] === " " && text[cut - 1] === "'")
    ) {
      return cut;
    }
  }
  return 0;
}

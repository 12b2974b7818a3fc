/**
 * A logits processor rewrites one row of logits in place before a token is
 * chosen: a penalty, a temperature, a filter that sets tokens to -Infinity.
 * Hugging Face's LogitsProcessor and LogitsWarper are both this.
 *
 * @param logits [vocabSize] the next-token logits of one sequence, modified in place
 * @param tokens the sequence so far: prompt tokens, then the tokens generated
 * @param promptLength how many of `tokens` are the prompt (default 0); the
 *   penalties of OpenAI's API (presence, frequency) count only the tokens after it
 */
export type LogitsProcessor = (logits: Float32Array, tokens: readonly number[], promptLength?: number) => void;

/** Runs processors one after another, in the order given. */
export function composeProcessors(processors: readonly LogitsProcessor[]): LogitsProcessor {
  const list = [...processors];
  return (logits, tokens, promptLength) => {
    for (const processor of list) processor(logits, tokens, promptLength);
  };
}

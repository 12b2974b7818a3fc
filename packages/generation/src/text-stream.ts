/**
 * Incremental detokenisation of one sequence, structurally what
 * `tokenizer.streamDecoder({ skipSpecialTokens: true })` of @oar/tokenizer
 * returns (this package does not import the tokenizer). It must never split
 * a UTF-8 character: a token that ends mid-character returns "" and its bytes
 * come out with the token that completes them.
 */
export interface TextStream {
  /** Appends a token; returns the text it completes (possibly ""). */
  push(tokenId: number): string;
  /** Ends the sequence; returns whatever text is still held back. */
  flush(): string;
}

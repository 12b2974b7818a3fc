/**
 * The one interface both modes implement: the eager model of @oar/modeling
 * ("dynamic") and the onnxruntime session of @oar/runtime ("static").
 * Everything above it (sampling, stopping, streaming, the continuous-batching
 * scheduler) is written once, in this package, against it.
 */

/** A sequence held by a model: its KV cache and the number of positions in it. */
export interface Sequence {
  /** Unique among the model's live sequences. */
  readonly id: number;
  /**
   * Positions held in the cache, prefix tokens included. The next token fed
   * to this sequence gets position `length`.
   */
  readonly length: number;
}

/** New tokens for one sequence, in one forward call. */
export interface ForwardStep {
  readonly seq: Sequence;
  /** Token ids to append, at positions `seq.length ...`. At least one. */
  readonly tokens: readonly number[];
  /**
   * How many of the last positions to return logits for (default 1). Tests
   * ask for all of them to compare an incremental run with a full one.
   */
  readonly logits?: number;
}

export interface CausalLM {
  /** Width of a logits row. */
  readonly vocabSize: number;
  /** Longest sequence (cache positions, prefix included) the model accepts. */
  readonly maxPositions: number;
  /** Positions of a learned prefix (prefix tuning) every new sequence starts with; 0 if none. */
  readonly prefixLength: number;

  /** A new, empty sequence (holding the prefix, if the model has one). */
  createSequence(): Sequence;

  /**
   * Appends each step's tokens to its sequence's cache and returns, per step,
   * the logits of its last `step.logits ?? 1` positions as one row-major
   * Float32Array [positions, vocabSize]. The steps of one call belong to
   * distinct sequences; the model may run them as one batch.
   */
  forward(steps: readonly ForwardStep[]): Promise<Float32Array[]>;

  /**
   * Whether a sequence that will hold `positions` positions in all can be
   * given cache memory now. Dense caches answer by `maxPositions`; paged
   * caches by the free blocks in their pool.
   */
  canAllocate(positions: number): boolean;

  /**
   * Optional: a new sequence with cache memory for `positions` positions in
   * all (prefix included) set aside for it now, or null when the pool cannot
   * hold them. A paged cache that takes blocks only as tokens arrive should
   * implement it: the scheduler may admit several prompts in one step, and
   * canAllocate, asked before each, cannot know what the sequences created
   * just before will need. Without it, the scheduler calls canAllocate and
   * then createSequence.
   */
  allocateSequence?(positions: number): Sequence | null;

  /** Frees a sequence's cache; the handle must not be used again. */
  releaseSequence(seq: Sequence): void;

  /** Frees everything the model holds (worker threads, sessions). */
  dispose(): Promise<void>;
}

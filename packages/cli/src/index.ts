/**
 * @oar/cli: what Oar's command-line programs (predictor, export-model,
 * make-tiny-model, make-adapter) share: one-line errors for a person's
 * mistakes, stacks for bugs.
 */
export * from "./errors.js";

import type { Pipeline } from "../rewrite/manager.js";
import { constantFolding, type ConstantFoldingOptions } from "./constant-folding.js";
import { commonSubexpressionElimination } from "./cse.js";
import { deadCodeElimination } from "./dead-code.js";
import { removeIdentity, removeNoopCast, removeNoopReshape } from "./identity.js";

/** The generic passes, in the order that lets each feed the next: fold, drop no-ops, merge duplicates, sweep. */
export function cleanupPipeline(options: ConstantFoldingOptions = {}): Pipeline {
  return {
    name: "cleanup",
    passes: [
      constantFolding(options),
      removeIdentity,
      removeNoopReshape,
      removeNoopCast,
      commonSubexpressionElimination,
      deadCodeElimination,
    ],
  };
}

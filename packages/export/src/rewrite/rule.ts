import { RewriteBuilder } from "../ir/builder.js";
import type { Graph } from "../ir/graph.js";
import type { Node } from "../ir/node.js";
import type { Value } from "../ir/value.js";
import { type Match, Pattern, PatternBuilder, type PatternValue, type PatternVar } from "./pattern.js";

/** Why a pass did not change something it looked at. */
export interface Rejection {
  /** The node the attempt was rooted at. */
  readonly node: string;
  readonly reason: string;
}

/** What one run of a pass did. */
export interface PassResult {
  readonly changed: boolean;
  /** How many rewrites (or removals, folds) it made. */
  readonly fired: number;
  readonly rejections: readonly Rejection[];
}

/** Anything the pass manager runs: a rule, or a hand-written pass (dead-code elimination, constant folding). */
export interface Pass {
  readonly name: string;
  run(graph: Graph): PassResult;
}

/**
 * What `check` returns: a payload for `rewrite`, or a decline. A decline with
 * a reason is reported (the match is what the rule is about, but unsafe or
 * unsupported: "head_size 8 is not a multiple of 16"); one without is not an
 * instance of the rule at all (a Cast that does change the dtype).
 */
export type CheckResult<P> = { readonly ok: true; readonly payload: P } | { readonly ok: false; readonly reason: string | null };

export function accept<P>(payload: P): CheckResult<P> {
  return { ok: true, payload };
}

/** Declines a match and says why; the pass manager reports it. */
export function reject(reason: string): CheckResult<never> {
  return { ok: false, reason };
}

/** Declines a match silently: not an instance of the rule after all. */
export function noMatch(): CheckResult<never> {
  return { ok: false, reason: null };
}

/**
 * A rewrite rule, in three parts:
 * - `pattern` builds what to look for from the declared `vars`, like model code;
 * - `check` decides on a structural match: a typed payload, or a reason;
 * - `rewrite` builds the replacement from the payload alone, returning one
 *   value per pattern output (or existing values, to short-circuit).
 * The matched nodes are removed and the pattern outputs' uses move to the
 * returned values, through Graph.replace. A match whose intermediate values
 * are used outside it is declined before `check` is asked.
 */
export interface RuleSpec<V extends string, P> {
  readonly name: string;
  readonly vars: readonly V[];
  pattern(p: PatternBuilder<V>, vars: { readonly [K in V]: PatternVar<K> }): PatternValue | readonly PatternValue[];
  check(match: Match<V>): CheckResult<P>;
  rewrite(b: RewriteBuilder, payload: P): Value | readonly Value[];
}

/** A rule ready for the pass manager. */
export interface Rule extends Pass {
  /**
   * Whether the rule would fire at `node` (as the root of its first output),
   * or why not: null when nothing matches structurally, a null reason when
   * `check` declined silently.
   */
  explain(node: Node): { readonly ok: true } | { readonly ok: false; readonly reason: string | null } | null;
}

/** Tries at most this many structural matches per root (commutative ops and oneOf multiply them). */
const MAX_MATCHES_PER_ROOT = 64;

/** Compiles a rule; the pattern is built once, here, and checked (declared vs used variables, connected outputs). */
export function defineRule<const V extends string, P>(spec: RuleSpec<V, P>): Rule {
  const vars = Object.fromEntries(spec.vars.map((v) => [v, { kind: "var", name: v }])) as { readonly [K in V]: PatternVar<K> };
  const pattern = new Pattern<V>(spec.name, spec.vars, spec.pattern(new PatternBuilder<V>(), vars));

  type Attempt = { ok: true; match: Match<V>; payload: P } | { ok: false; reason: string | null } | null;
  const attempt = (root: Node): Attempt => {
    let first: { ok: false; reason: string | null } | null = null;
    let tried = 0;
    for (const m of pattern.matchesAt(root)) {
      if (++tried > MAX_MATCHES_PER_ROOT) break;
      const escape = escapingIntermediate(m);
      const verdict = escape !== null ? reject(escape) : spec.check(m);
      if (verdict.ok) return { ok: true, match: m, payload: verdict.payload };
      if (first === null || (first.reason === null && verdict.reason !== null)) first = { ok: false, reason: verdict.reason };
    }
    return first;
  };

  return {
    name: spec.name,
    explain(node) {
      const a = attempt(node);
      return a === null ? null : a.ok ? { ok: true } : a;
    },
    run(graph) {
      let fired = 0;
      const rejections: Rejection[] = [];
      for (const root of [...graph.nodes]) {
        if (root.state !== "attached" || !root.is(pattern.rootOp)) continue;
        const a = attempt(root);
        if (a === null) continue;
        if (!a.ok) {
          if (a.reason !== null) rejections.push({ node: root.name, reason: a.reason });
          continue;
        }
        const b = new RewriteBuilder(graph);
        const produced = spec.rewrite(b, a.payload);
        const values = Array.isArray(produced) ? (produced as readonly Value[]) : [produced as Value];
        if (values.length !== a.match.outputs.length) {
          throw new Error(
            `rule '${spec.name}': rewrite returned ${values.length} values for a pattern with ${a.match.outputs.length} outputs`,
          );
        }
        const r = graph.replace({
          remove: a.match.nodes,
          insert: b,
          rewire: a.match.outputs.map((o, i) => [o, values[i]!] as const).filter(([o, v]) => o !== v),
        });
        if (r.ok) {
          fired++;
        } else {
          b.discard();
          rejections.push({ node: root.name, reason: r.reason });
        }
      }
      return { changed: fired > 0, fired, rejections };
    },
  };
}

/** A value made inside the match (not a pattern output) that something outside it reads; null when there is none. */
function escapingIntermediate(m: Match<string>): string | null {
  const inside = new Set(m.nodes);
  const outputs = new Set(m.outputs);
  for (const n of m.nodes) {
    for (const v of n.outputs) {
      if (v === null || outputs.has(v)) continue;
      const outside = v.uses.find((u) => !inside.has(u.node));
      if (outside !== undefined) return `intermediate '${v.name}' is also used by ${outside.node.describe()}`;
      if (v.isGraphOutput) return `intermediate '${v.name}' is a graph output`;
    }
  }
  return null;
}

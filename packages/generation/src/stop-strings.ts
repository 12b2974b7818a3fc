/**
 * Stops a sequence when its text contains a stop string, and keeps streamed
 * text equal to the final text: text that could be the start of a stop string
 * is held back until the next piece shows whether it is.
 */
export interface StopStringMatcher {
  /**
   * Takes newly decoded text; returns the text safe to emit, and whether a
   * stop string was reached (then `text` ends just before it, and the rest of
   * the sequence's text is dropped).
   */
  push(text: string): { text: string; stopped: boolean };
  /** The text held back, at the end of a sequence that did not stop on a string. */
  flush(): string;
}

export function createStopStringMatcher(stopStrings: readonly string[]): StopStringMatcher {
  for (const stop of stopStrings) {
    if (stop.length === 0) throw new Error("stop strings must not be empty");
  }
  let pending = "";
  return {
    push: (text) => {
      pending += text;
      let at = -1;
      for (const stop of stopStrings) {
        const index = pending.indexOf(stop);
        if (index >= 0 && (at < 0 || index < at)) at = index;
      }
      if (at >= 0) {
        const emitted = pending.slice(0, at);
        pending = "";
        return { text: emitted, stopped: true };
      }
      const held = heldBackLength(pending, stopStrings);
      const emitted = pending.slice(0, pending.length - held);
      pending = pending.slice(pending.length - held);
      return { text: emitted, stopped: false };
    },
    flush: () => {
      const rest = pending;
      pending = "";
      return rest;
    },
  };
}

/** Length of the longest end of `text` that is a proper start of a stop string. */
function heldBackLength(text: string, stopStrings: readonly string[]): number {
  let longest = 0;
  for (const stop of stopStrings) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

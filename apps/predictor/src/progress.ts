/**
 * Progress on stderr: prompts done, generated tokens per second and the time
 * left. On a terminal, one bar redrawn in place; elsewhere (a log file, CI),
 * plain lines, at most one a second and always the last.
 */

export type ProgressStyle = "bar" | "lines" | "off";

/** Where progress is drawn: process.stderr fits. */
export interface ProgressSink {
  write(text: string): unknown;
  /** Terminal width, when a terminal. */
  readonly columns?: number;
}

export interface ProgressOptions {
  readonly total: number;
  readonly style: ProgressStyle;
  readonly sink: ProgressSink;
  /** Milliseconds now (tests pass a fake clock). */
  readonly now?: () => number;
  /** What is counted, "prompts" by default. */
  readonly unit?: string;
}

export interface Progress {
  /** `count` more tokens were generated. */
  tokens(count: number): void;
  /** One more item finished. */
  itemDone(): void;
  /** Runs `write` (output on the same terminal) with the bar cleared, then redraws it. */
  aside(write: () => void): void;
  /** Final state; the bar is left on its own line. */
  finish(): void;
}

/** The style for stderr: a bar on a terminal, lines otherwise; off when streamed text shares the terminal. */
export function progressStyle(options: { readonly stderrIsTTY: boolean; readonly stdoutIsTTY: boolean; readonly stream: boolean }): ProgressStyle {
  if (!options.stderrIsTTY) return "lines";
  // A bar redrawn under tokens streamed to the same terminal would cut through them.
  return options.stream && options.stdoutIsTTY ? "off" : "bar";
}

/** Seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function createProgress(options: ProgressOptions): Progress {
  const { total, style, sink } = options;
  const now = options.now ?? (() => performance.now());
  const unit = options.unit ?? "prompts";
  const start = now();
  let done = 0;
  let tokens = 0;
  let lastLine = -Infinity;
  let drawn = false;
  let finished = false;

  const status = (): string => {
    const elapsed = (now() - start) / 1000;
    const rate = elapsed > 0 ? tokens / elapsed : 0;
    const eta = done === 0 ? Number.NaN : (elapsed / done) * (total - done);
    return `${done}/${total} ${unit}, ${rate.toFixed(1)} tokens/s, elapsed ${formatDuration(elapsed)}, ETA ${done === total ? "0:00" : formatDuration(eta)}`;
  };

  const drawBar = (): void => {
    const text = status();
    const width = Math.max(10, Math.min(40, (sink.columns ?? 80) - text.length - 4));
    const filled = total === 0 ? width : Math.round((done / total) * width);
    sink.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}\x1b[K`);
    drawn = true;
  };

  const clearBar = (): void => {
    if (drawn) sink.write("\r\x1b[K");
    drawn = false;
  };

  const update = (force: boolean): void => {
    switch (style) {
      case "bar":
        drawBar();
        return;
      case "lines": {
        const t = now();
        if (force || t - lastLine >= 1000) {
          sink.write(`predictor: ${status()}\n`);
          lastLine = t;
        }
        return;
      }
      case "off":
        return;
    }
  };

  let lastBar = -Infinity;
  return {
    tokens(count) {
      tokens += count;
      // Redraw on tokens too, so the rate moves during long answers; at most 10 times a second.
      if (style === "bar" && now() - lastBar >= 100) {
        lastBar = now();
        drawBar();
      }
    },
    itemDone() {
      done++;
      update(done === total);
    },
    aside(write) {
      if (style !== "bar" || finished) {
        write();
        return;
      }
      clearBar();
      write();
      drawBar();
    },
    finish() {
      if (finished) return;
      finished = true;
      if (style === "bar" && drawn) sink.write("\n");
    },
  };
}

/**
 * transformers.js (@huggingface/transformers 4.x) running an exported
 * inference directory: AutoModelForCausalLM over the directory's model.onnx
 * (`subfolder: ""`, `model_file_name: "model"`, dtype fp32 = no file-name
 * suffix), model.generate greedy on token ids. EOS is ignored the way
 * `ignoreEos` does it in Oar: no EOS id, so no stopping criterion and no
 * logit masked. A streamer timestamps each step: its first call carries the
 * prompt, each later call one new token per sequence.
 */
import { AutoModelForCausalLM, BaseStreamer, type PreTrainedModel, Tensor, env } from "@huggingface/transformers";
import { type Sample, WARMUP, type Workload, batchPrompts, peakRssBytes, promptTokens } from "../workload.js";

/** The options that load an Oar inference directory (model.onnx beside config.json) in transformers.js. */
export const OAR_DIR_OPTIONS = { subfolder: "", model_file_name: "model", dtype: "fp32", device: "cpu", local_files_only: true } as const;

export async function loadTransformersJs(dir: string): Promise<PreTrainedModel> {
  env.allowRemoteModels = false;
  return AutoModelForCausalLM.from_pretrained(dir, OAR_DIR_OPTIONS);
}

class StepClock extends BaseStreamer {
  readonly times: number[] = [];
  readonly steps: bigint[][][] = [];

  override put(value: bigint[][]): void {
    this.times.push(performance.now());
    this.steps.push(value);
  }

  override end(): void {}
}

interface Timed {
  readonly startedAt: number;
  /** performance.now() at the prompt, then at each new token. */
  readonly times: readonly number[];
  /** New tokens of each sequence. */
  readonly tokens: number[][];
}

/** Pads shorter prompts on the left (attention mask 0), as transformers.js' tokenizer does for decoder-only models. */
const PAD_ID = 151643;

/** Greedy generation of exactly `newTokens` tokens per prompt. */
export async function generateTimed(model: PreTrainedModel, prompts: readonly (readonly number[])[], newTokens: number): Promise<Timed> {
  const length = Math.max(...prompts.map((p) => p.length));
  const ids = new BigInt64Array(prompts.length * length).fill(BigInt(PAD_ID));
  const mask = new BigInt64Array(prompts.length * length);
  prompts.forEach((p, row) => {
    const at = row * length + length - p.length;
    p.forEach((t, i) => {
      ids[at + i] = BigInt(t);
      mask[at + i] = 1n;
    });
  });
  const clock = new StepClock();
  const startedAt = performance.now();
  const options = {
    input_ids: new Tensor("int64", ids, [prompts.length, length]),
    attention_mask: new Tensor("int64", mask, [prompts.length, length]),
    max_new_tokens: newTokens,
    do_sample: false,
    eos_token_id: null,
    streamer: clock,
  };
  // The typings merge GenerationConfig (streamer: TextStreamer) into generate's parameters (streamer: BaseStreamer); it takes any streamer.
  await model.generate(options as unknown as Parameters<PreTrainedModel["generate"]>[0]);
  const tokens = prompts.map((_, row) => clock.steps.slice(1).map((step) => Number(step[row]![0]!)));
  if (tokens[0]!.length !== newTokens) throw new Error(`transformers.js generated ${tokens[0]!.length} tokens, asked for ${newTokens}`);
  return { startedAt, times: clock.times, tokens };
}

export async function measureTransformersJs(dir: string, w: Workload): Promise<Sample> {
  const started = performance.now();
  const model = await loadTransformersJs(dir);
  const loadMs = performance.now() - started;
  try {
    await generateTimed(model, [promptTokens(WARMUP.prompt, 99)], WARMUP.newTokens);

    const single = await generateTimed(model, [promptTokens(w.shortPrompt)], w.decodeTokens);
    const t = single.times;
    const decodeSteps = w.decodeTokens - 1;

    let batchDecode: number | null = null;
    if (w.batch > 0) {
      const b = (await generateTimed(model, batchPrompts(w), w.batchDecodeTokens)).times;
      batchDecode = (w.batch * (w.batchDecodeTokens - 1) * 1000) / (b[b.length - 1]! - b[1]!);
    }
    let prefillLong: number | null = null;
    if (w.longPrompt > 0) {
      const l = (await generateTimed(model, [promptTokens(w.longPrompt)], 1)).times;
      prefillLong = (w.longPrompt * 1000) / (l[1]! - l[0]!);
    }
    return {
      loadMs,
      ttftMs: t[1]! - single.startedAt,
      prefillShort: (w.shortPrompt * 1000) / (t[1]! - t[0]!),
      prefillLong,
      decode: (decodeSteps * 1000) / (t[t.length - 1]! - t[1]!),
      batchDecode,
      peakRssBytes: peakRssBytes(),
      tokens: single.tokens[0]!,
    };
  } finally {
    await model.dispose();
  }
}

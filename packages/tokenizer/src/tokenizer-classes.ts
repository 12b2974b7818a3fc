/**
 * The defaults of the transformers tokenizer classes Oar reads without a
 * tokenizer.json, by tokenizer_config.json's `tokenizer_class`. A
 * tokenizer.json carries its own behaviour; a `tokenizer.model` or a
 * vocab.json does not, so what the Python class would do when the config
 * is silent is written down here, once.
 */
import type { TokenizerSettings } from "./config.js";

export type TokenizerClass = "llama" | "baichuan" | "chatglm" | "chatglm4" | "gpt2";

/** The class names tokenizer_config.json uses for each. */
const CLASS_NAMES: Record<string, TokenizerClass> = {
  LlamaTokenizer: "llama",
  LlamaTokenizerFast: "llama",
  CodeLlamaTokenizer: "llama",
  CodeLlamaTokenizerFast: "llama",
  BaichuanTokenizer: "baichuan",
  BaiChuanTokenizer: "baichuan",
  ChatGLMTokenizer: "chatglm",
  ChatGLM4Tokenizer: "chatglm4",
  GPT2Tokenizer: "gpt2",
  GPT2TokenizerFast: "gpt2",
};

/** The class a tokenizer_config.json names; null when it names none; undefined when Oar does not know it. */
export function tokenizerClassOf(config: unknown): { name: string | null; cls: TokenizerClass | undefined } {
  const name =
    typeof config === "object" && config !== null && typeof (config as Record<string, unknown>).tokenizer_class === "string"
      ? ((config as Record<string, unknown>).tokenizer_class as string)
      : null;
  return { name, cls: name === null ? undefined : CLASS_NAMES[name] };
}

/** The class names of some classes, for error messages. */
export function classNamesOf(classes: readonly TokenizerClass[]): string[] {
  return Object.keys(CLASS_NAMES).filter((name) => classes.includes(CLASS_NAMES[name] as TokenizerClass));
}

interface Defaults {
  bosToken: string | null;
  eosToken: string | null;
  unkToken: string | null;
  padToken: string | null;
  addBosToken: boolean;
  addEosToken: boolean;
}

const DEFAULTS: Record<TokenizerClass, Defaults> = {
  // transformers' LlamaTokenizer; BaichuanTokenizer is a copy of an early one.
  llama: { bosToken: "<s>", eosToken: "</s>", unkToken: "<unk>", padToken: null, addBosToken: true, addEosToken: false },
  baichuan: { bosToken: "<s>", eosToken: "</s>", unkToken: "<unk>", padToken: null, addBosToken: true, addEosToken: false },
  // ChatGLM2/3 frame text with [gMASK] sop, not a BOS; their eos/unk/pad are fixed properties.
  chatglm: { bosToken: null, eosToken: "</s>", unkToken: "<unk>", padToken: "<unk>", addBosToken: false, addEosToken: false },
  chatglm4: { bosToken: null, eosToken: null, unkToken: null, padToken: null, addBosToken: false, addEosToken: false },
  gpt2: {
    bosToken: "<|endoftext|>",
    eosToken: "<|endoftext|>",
    unkToken: "<|endoftext|>",
    padToken: null,
    addBosToken: false,
    addEosToken: false,
  },
};

/**
 * The settings with the class's defaults where tokenizer_config.json is
 * silent (a field that is absent, not one set to null). ChatGLM2/3's
 * eos, unk and pad tokens are properties of the class that ignore the
 * config, so they always win.
 */
export function withClassDefaults(settings: TokenizerSettings, config: unknown, cls: TokenizerClass): TokenizerSettings & { addBosToken: boolean; addEosToken: boolean } {
  const raw = typeof config === "object" && config !== null ? (config as Record<string, unknown>) : {};
  const d = DEFAULTS[cls];
  const pick = (field: string, value: string | null, fallback: string | null): string | null => (field in raw ? value : fallback);
  const fixed = cls === "chatglm";
  return {
    ...settings,
    bosToken: pick("bos_token", settings.bosToken, d.bosToken),
    eosToken: fixed ? d.eosToken : pick("eos_token", settings.eosToken, d.eosToken),
    unkToken: fixed ? d.unkToken : pick("unk_token", settings.unkToken, d.unkToken),
    padToken: fixed ? d.padToken : pick("pad_token", settings.padToken, d.padToken),
    addBosToken: settings.addBosToken ?? d.addBosToken,
    addEosToken: settings.addEosToken ?? d.addEosToken,
  };
}

/**
 * ChatGLM2, ChatGLM3, GLM-4 and Baichuan directories as users hold them
 * (tokenizer.model, tokenizer_config.json, generation_config.json, no
 * tokenizer.json), loaded with loadTokenizer: their chat prompts against
 * goldens/chat.json (built from the ids the real sentencepiece and tiktoken
 * give each fragment, composed as each remote build_chat_input composes
 * them), their EOS ids, and that no role token reaches decoded text.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChatMessage } from "./chat-template.js";
import { writeTokenizerDir } from "./fixtures.js";
import { readGolden, readGoldenBytes } from "./goldens.js";
import { loadTokenizer } from "./load.js";
import type { OarTokenizer } from "./tokenizer.js";

interface ChatGolden {
  chatglm3: { messages: ChatMessage[]; ids: number[] }[];
  chatglm2: { messages: ChatMessage[]; ids: number[] }[];
  glm4: { messages: ChatMessage[]; ids: number[] }[];
  baichuan: { messages: ChatMessage[]; max_input_tokens: number; ids: number[] }[];
  baichuan_user_token_id: number;
  baichuan_assistant_token_id: number;
}
const golden = readGolden<ChatGolden>("chat.json");
const SP_SIZE = 1200; // pieces of goldens/sentencepiece/llama-bpe.model
const TIKTOKEN_SIZE = readGolden<{ size: number }>("tiktoken.json").size;
const GLM3 = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"];
const glm3Id = (token: string) => SP_SIZE + GLM3.indexOf(token);
const GLM4 = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"];
const glm4Id = (token: string) => TIKTOKEN_SIZE + GLM4.indexOf(token);

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "oar-chat-formats-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function writeDir(name: string, files: Record<string, unknown>): Promise<string> {
  return writeTokenizerDir(root, name, files);
}

/** Tokens between the prompt and the stop: what a model would generate. */
function reply(tokenizer: OarTokenizer, text: string): number[] {
  return tokenizer.encode(text, { addSpecialTokens: false });
}

describe("a ChatGLM3 directory", () => {
  let glm: OarTokenizer;
  before(async () => {
    const dir = await writeDir("chatglm3", {
      "tokenizer.model": readGoldenBytes("sentencepiece/llama-bpe.model"),
      "tokenizer_config.json": { tokenizer_class: "ChatGLMTokenizer", remove_space: false, do_lower_case: false },
      "generation_config.json": { eos_token_id: [2, glm3Id("<|user|>"), glm3Id("<|observation|>")], pad_token_id: 0 },
    });
    glm = await loadTokenizer(dir);
  });

  it("is detected, with its nine tokens after the sentencepiece pieces", () => {
    assert.equal(glm.kind, "sentencepiece");
    assert.equal(glm.chatFormat, "chatglm3");
    assert.equal(glm.vocabSize, SP_SIZE + 9);
    assert.equal(glm.tokenToId("<|observation|>"), glm3Id("<|observation|>"));
    assert.equal(glm.idToToken(glm3Id("sop")), "sop");
  });

  it("builds chat prompts as build_chat_input does", () => {
    for (const c of golden.chatglm3) assert.deepEqual(glm.encodeChat(c.messages), c.ids, JSON.stringify(c.messages));
    const text = glm.applyChatTemplate([{ role: "user", content: "你好" }]);
    assert.equal(text, "[gMASK]sop<|user|>\n你好<|assistant|>");
  });

  it("stops at </s>, <|user|> and <|observation|>, none of which reaches the text", () => {
    assert.deepEqual(glm.eosTokenIds, [2, glm3Id("<|user|>"), glm3Id("<|observation|>")]);
    const ids = [...reply(glm, "天气很好 🌞"), glm3Id("<|user|>")];
    assert.equal(glm.decode(ids), "天气很好 🌞");
    const stream = glm.streamDecoder();
    let out = "";
    for (const id of ids) out += stream.push(id);
    assert.equal(out + stream.flush(), "天气很好 🌞");
  });

  it("adds [gMASK] sop to plain text, and reads role tokens in text only as text", () => {
    const ids = glm.encode("<|user|>");
    assert.deepEqual(ids.slice(0, 2), [glm3Id("[gMASK]"), glm3Id("sop")]);
    assert.ok(!ids.includes(glm3Id("<|user|>")), "encode_special_tokens is off, as in the remote tokenizer");
  });

  it("cuts a long prompt keeping [gMASK] sop", () => {
    const c = golden.chatglm3[1]!;
    const batch = glm.encodeChatBatch([c.messages, golden.chatglm3[0]!.messages], { srcLength: 20 });
    assert.deepEqual(batch.inputIds[0], [...c.ids.slice(0, 2), ...c.ids.slice(c.ids.length - 18)]);
    assert.deepEqual(batch.truncations, [{ index: 0, originalLength: c.ids.length, removed: c.ids.length - 20 }]);
    assert.deepEqual(batch.attentionMask[1]!.filter((m) => m === 0).length, 20 - golden.chatglm3[0]!.ids.length);
  });

  it("rejects roles ChatGLM3 does not have", () => {
    assert.throws(() => glm.encodeChat([{ role: "tool", content: "x" }]), /^Error: chat format chatglm3: message 0 has role "tool"; the roles are system, user, assistant, observation$/);
  });
});

describe("a ChatGLM2 directory", () => {
  it("is told from ChatGLM3 and builds its [Round n] prompt", async () => {
    const dir = await writeDir("chatglm2", {
      "tokenizer.model": readGoldenBytes("sentencepiece/llama-bpe.model"),
      "tokenizer_config.json": { tokenizer_class: "ChatGLMTokenizer" },
      "generation_config.json": { eos_token_id: 2 },
    });
    const glm2 = await loadTokenizer(dir);
    assert.equal(glm2.chatFormat, "chatglm2");
    assert.equal(glm2.vocabSize, SP_SIZE + 5);
    for (const c of golden.chatglm2) assert.deepEqual(glm2.encodeChat(c.messages), c.ids, JSON.stringify(c.messages));
    assert.throws(() => glm2.encodeChat([{ role: "system", content: "x" }, { role: "user", content: "y" }]), /chat format chatglm2: .*found 2 messages/);
  });

  it("uses the remote tokenizer's text, when present, to tell the two apart", async () => {
    const files = {
      "tokenizer.model": readGoldenBytes("sentencepiece/llama-bpe.model"),
      "tokenizer_config.json": { tokenizer_class: "ChatGLMTokenizer" },
    };
    const v3 = await writeDir("chatglm3-remote", { ...files, "tokenization_chatglm.py": 'role_special_tokens = ["<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]' });
    const v2 = await writeDir("chatglm2-remote", { ...files, "tokenization_chatglm.py": 'special_tokens = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop"]' });
    assert.equal((await loadTokenizer(v3)).chatFormat, "chatglm3");
    assert.equal((await loadTokenizer(v2)).chatFormat, "chatglm2");
  });
});

describe("a GLM-4 directory (tiktoken tokenizer.model)", () => {
  let glm4: OarTokenizer;
  before(async () => {
    const added: Record<string, unknown> = {};
    GLM4.forEach((content, i) => {
      added[String(TIKTOKEN_SIZE + i)] = { content, lstrip: false, rstrip: false, normalized: false, single_word: false, special: true };
    });
    const dir = await writeDir("glm4", {
      "tokenizer.model": readGoldenBytes("tiktoken/tokenizer.model"),
      "tokenizer_config.json": {
        tokenizer_class: "ChatGLM4Tokenizer",
        added_tokens_decoder: added,
        eos_token: "<|endoftext|>",
        pad_token: "<|endoftext|>",
        clean_up_tokenization_spaces: false,
      },
      "generation_config.json": { eos_token_id: [glm4Id("<|endoftext|>"), glm4Id("<|user|>"), glm4Id("<|observation|>")], pad_token_id: glm4Id("<|endoftext|>") },
    });
    glm4 = await loadTokenizer(dir);
  });

  it("is detected from its class and its rank file", () => {
    assert.equal(glm4.kind, "tiktoken");
    assert.equal(glm4.chatFormat, "glm4");
    assert.equal(glm4.vocabSize, TIKTOKEN_SIZE + GLM4.length);
  });

  it("builds chat prompts as its remote code does", () => {
    for (const c of golden.glm4) assert.deepEqual(glm4.encodeChat(c.messages), c.ids, JSON.stringify(c.messages));
  });

  it("adds [gMASK] <sop>, reads its special tokens in text, and keeps them out of decoded text", () => {
    const ids = glm4.encode("<|user|>\nhi");
    assert.deepEqual(ids.slice(0, 3), [glm4Id("[gMASK]"), glm4Id("<sop>"), glm4Id("<|user|>")]);
    assert.equal(glm4.decode(ids), "\nhi");
    assert.equal(glm4.decode(ids, { skipSpecialTokens: false }), "[gMASK]<sop><|user|>\nhi");
    assert.deepEqual(glm4.eosTokenIds, [glm4Id("<|endoftext|>"), glm4Id("<|user|>"), glm4Id("<|observation|>")]);
  });

  it("spells tokens in byte-level characters and looks them up the same way", () => {
    const hello = glm4.encode("hello world", { addSpecialTokens: false });
    const spelled = hello.map((id) => glm4.idToToken(id) as string);
    assert.deepEqual(spelled.map((t) => glm4.tokenToId(t)), hello);
    assert.ok(spelled.some((t) => t.startsWith("\u0120")), "a space is spelled Ġ");
  });
});

describe("a Baichuan 2 directory", () => {
  let baichuan: OarTokenizer;
  before(async () => {
    const dir = await writeDir("baichuan2", {
      "tokenizer.model": readGoldenBytes("sentencepiece/baichuan-bpe.model"),
      "tokenizer_config.json": { tokenizer_class: "BaichuanTokenizer", add_bos_token: false, add_eos_token: false, model_max_length: 4096 },
      "generation_config.json": {
        user_token_id: golden.baichuan_user_token_id,
        assistant_token_id: golden.baichuan_assistant_token_id,
        eos_token_id: 2,
        pad_token_id: 0,
        max_new_tokens: 2048,
      },
    });
    baichuan = await loadTokenizer(dir);
  });

  it("builds and cuts chat prompts as build_chat_input does", () => {
    assert.equal(baichuan.chatFormat, "baichuan");
    for (const c of golden.baichuan) {
      const batch = baichuan.encodeChatBatch([c.messages], { srcLength: c.max_input_tokens });
      assert.deepEqual(batch.inputIds[0], c.ids, `${JSON.stringify(c.messages)} within ${c.max_input_tokens}`);
      const full = baichuan.encodeChat(c.messages);
      assert.deepEqual(batch.truncations, full.length > c.max_input_tokens ? [{ index: 0, originalLength: full.length, removed: full.length - c.ids.length }] : []);
    }
  });

  it("keeps its role tokens out of decoded text", () => {
    const ids = [golden.baichuan_assistant_token_id, ...reply(baichuan, "好的"), 2];
    assert.equal(baichuan.decode(ids), "好的");
    assert.equal(baichuan.applyChatTemplate([{ role: "user", content: "你好" }]), "<reserved_106>你好<reserved_107>");
  });

  it("adds the BOS BaichuanTokenizer adds by default", async () => {
    const dir = await writeDir("baichuan-default", {
      "tokenizer.model": readGoldenBytes("sentencepiece/baichuan-bpe.model"),
      "tokenizer_config.json": { tokenizer_class: "BaichuanTokenizer" },
    });
    const t = await loadTokenizer(dir);
    assert.equal(t.encode("hi")[0], 1);
    assert.equal(t.chatFormat, null, "no user/assistant token ids in a generation_config.json: no chat format");
  });
});

"""Writes the tokenizer goldens of @oar/tokenizer: small real tokenizer files
and what the reference libraries make of a varied corpus.

Run from this folder with the Python packages below (the versions the
committed goldens came from):

    pip install sentencepiece==0.2.2 tiktoken==0.14.0 tokenizers==0.22.2 regex
    pip install --no-deps transformers==4.57.6
    python make_goldens.py

transformers 4.57 is the last release with the sentencepiece-backed ("slow")
LlamaTokenizer and GPT2Tokenizer. It refuses at import a huggingface-hub of
1.0 or later, which is all this machine's package mirror carries; none of the
tokenizer classes used here touch the hub, so the script tells the version
check what it wants to hear (see `import_transformers_4`).

Everything is deterministic: the training corpus is generated from a seeded
random generator, and sentencepiece trains on one thread.

Outputs (all small; the nmt_nfkc model is 240 KB because of its character map):
  sentencepiece/*.model   five models trained here, each with different options
  sentencepiece.json      per model: ids, pieces and decoded text of every case,
                          and the decoded text of chosen id sequences
  llama-slow.json         transformers' LlamaTokenizer (legacy true and false)
                          and BaichuanTokenizer-like behaviour over those models
  gpt2/vocab.json, gpt2/merges.txt, gpt2.json
                          a byte-level BPE trained with `tokenizers`, and the ids
                          and texts of transformers' GPT2Tokenizer and GPT2TokenizerFast
  tiktoken/tokenizer.model, tiktoken.json
                          a rank file in tiktoken's format (GLM-4's layout) trained
                          here with GLM-4's pre-tokenizer pattern, and tiktoken's ids
  chat.json               chat prompts built the way the remote code of ChatGLM2,
                          ChatGLM3, GLM-4 and Baichuan2 builds them, from the ids
                          the real sentencepiece/tiktoken give each fragment
"""

import base64
import collections
import importlib.metadata
import json
import os
import random
import shutil
import sys
import tempfile

import regex
import sentencepiece as spm
import tiktoken

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# The training corpus: synthetic, seeded, with the kinds of text the tests use.

WORDS = (
    "the of and to in is was for that on with as by at from his her it an be are this which or "
    "have one had not but what all were when we there can more if no out so said about into than "
    "them only other new some could time these two may then do first any my now such like our over "
    "man me even most made after also did many before must through back years where much your way "
    "well down should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three tokenizer "
    "model data river mountain value return function class import print string number list model "
    "hello world quick brown fox jumps over lazy dog"
).split()

HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性"
    "好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第"
    "向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管"
    "特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处"
    "队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单"
    "风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土"
    "许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省"
    "列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置"
    "派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严首底液官德随病苏失尔死讲配女黄推显谈罪神艺"
    "呢席含企望密批营项防举球英氧势告李台落木帮轮破亚师围注远字材排供河态封另施减树溶怎止案言士均武固叶鱼波视"
    "仅费紧爱左章早朝害续轻服试食充兵源判护司足某练差致板田降黑犯负击范继兴似余坚曲输修故城夫够送笔船占右财吃"
    "富春职觉汉画功巴跟虽杂飞检吸助升阳互初创抗考投坏策古径换未跑留钢曾端责站简述钱副尽帝射草冲承独令限阿宣环"
    "双请超微让控州良轴找否纪益依优顶础载倒房突坐粉敌略客袁冷胜绝析块剂测丝协诉念陈仍罗盐友洋错苦夜刑移频逐靠混"
    "。，、！？：；“”（）"
)
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテト"
HANGUL = "가나다라마바사아자차카타파하한국어텍스트입니다"
EMOJI = ["🦀", "🚀", "😀", "😂", "👍", "👍🏽", "❤️", "🎉", "👨‍👩‍👧‍👦", "🇨🇳", "✨", "🔥"]
CODE_LINES = [
    "def {name}(a, b):",
    "    return a + b",
    "    if x == {num}:",
    "        print('{word}')",
    "for i in range({num}):",
    "\tresult.append(i * {num})",
    "class {Name}(object):",
    "    def __init__(self, value):",
    "        self.value = value  # {word}",
    "import os, sys",
    "x = [{num}, {num}, {num}]",
    "const {name} = ({word}) => {word}.length;",
    "for (int i = 0; i < {num}; ++i) {{ sum += a[i]; }}",
    "    {{ \"key\": \"{word}\", \"value\": {num} }}",
    "#include <stdio.h>",
    "SELECT * FROM {word} WHERE id = {num};",
]


def make_corpus(rng: random.Random) -> list:
    lines = []
    for _ in range(1500):
        n = rng.randint(4, 16)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([".", ".", "!", "?", ","])
        if rng.random() < 0.2:
            sentence += " " + str(rng.randint(0, 99999))
        lines.append(sentence)
    for _ in range(900):
        n = rng.randint(6, 30)
        lines.append("".join(rng.choice(HANZI) for _ in range(n)))
    for _ in range(150):
        lines.append("".join(rng.choice(KANA) for _ in range(rng.randint(4, 12))))
        lines.append("".join(rng.choice(HANGUL) for _ in range(rng.randint(3, 8))))
    for _ in range(900):
        template = rng.choice(CODE_LINES)
        word = rng.choice(WORDS)
        lines.append(
            template.format(
                name=word + "_" + rng.choice(WORDS),
                Name=word.capitalize(),
                word=word,
                num=rng.randint(0, 999),
            )
        )
    for _ in range(200):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(3)) + " " + "".join(rng.choice(EMOJI) for _ in range(2)))
        lines.append(" " * rng.randint(2, 8) + rng.choice(WORDS) + "\t" + rng.choice(WORDS))
    rng.shuffle(lines)
    return lines


# ---------------------------------------------------------------------------
# The test corpus: what every tokenizer is asked to encode.

CASES = [
    "",
    "Hello world",
    "Hello, world! How are you?",
    " leading space",
    "trailing space ",
    "   three leading and two trailing  ",
    "runs    of     spaces",
    "tab\tseparated\tvalues",
    "line one\nline two\n\nline four",
    "\n\n\n",
    "   ",
    " ",
    "\t",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if x == 1:\n\tprint('one')  # comment",
    "class Tokenizer(object):\n    def __init__(self):\n        self.vocab = {}\n",
    "目前全世界的经济都是为一个事情服务的",
    "北京是中国的首都。上海是最大的城市！",
    "日本語のテキストとカタカナ",
    "한국어 텍스트",
    "emoji 🦀🚀 and 👨‍👩‍👧‍👦 family, 👍🏽",
    "mixed 中文 and English 123 numbers 4567",
    "ＡＢＣ fullwidth ｱｲｳ halfwidth ﬁ ligature ① ² … ™",
    "combining e\u0301 vs \u00e9",
    "\u00a0non-breaking\u3000ideographic space",
    "zero\u200bwidth",
    "\ufeffbom",
    "control \x00\x01\x1f chars",
    "replacement \ufffd char",
    "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬…æ",
    "Devanagari हिन्दी Thai ภาษาไทย Arabic العربية",
    "▁literal▁block ▁",
    "<s>inline special</s> and <unk>",
    "user defined <sep> symbol<sep><sep> and <tool>call</tool>",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟘𝟙",
    "a" * 50,
    "😀" * 5,
    "1234567890 3.14159 -42",
    "URL https://example.com/path?q=1&r=2#frag",
    "email foo.bar@example.org",
    "  \n  mixed \t whitespace \r\n end  ",
    "I'm sure you'll see they've done it, haven't they?",
    "The quick brown fox jumps over the lazy dog.",
]


# ---------------------------------------------------------------------------
# sentencepiece

# A tiny normalization rule set in sentencepiece's TSV form (source code
# points, tab, target code points): one-to-one, one-to-many, many-to-one
# and deletion rules, so the compiled character map exercises every path of
# the double-array trie without the 240 KB of nmt_nfkc.
CUSTOM_RULES = [
    ("FF21", "61"),  # Ａ -> a
    ("FF22", "62"),  # Ｂ -> b
    ("FB01", "66 69"),  # ﬁ -> fi
    ("2460", "31"),  # ① -> 1
    ("2026", "2E 2E 2E"),  # … -> ...
    ("65 301", "E9"),  # e + combining acute -> é
    ("3000", "20"),  # ideographic space -> space
    ("A0", "20"),  # no-break space -> space
    ("200B", ""),  # zero width space -> nothing
    ("9", "20"),  # tab -> space
]

# Llama-2/Mistral's options: BPE, byte fallback, digits split, no
# normalization, a dummy prefix, whitespace kept as is.
LLAMA_OPTIONS = dict(
    model_type="bpe",
    vocab_size=1200,
    byte_fallback=True,
    split_digits=True,
    normalization_rule_name="identity",
    add_dummy_prefix=True,
    remove_extra_whitespaces=False,
    allow_whitespace_only_pieces=True,
    character_coverage=0.9995,
)

SP_MODELS = {
    "llama-bpe": LLAMA_OPTIONS,
    # sentencepiece's defaults: unigram, nmt_nfkc, extra whitespace removed;
    # no byte fallback, so unknown characters become <unk> (runs of them one <unk>).
    "unigram-nfkc": dict(
        model_type="unigram",
        vocab_size=900,
        character_coverage=0.995,
        user_defined_symbols=["<sep>", "<tool>", "</tool>"],
        control_symbols=["<ctrl>"],
    ),
    # BPE without byte fallback, a custom rule map, no dummy prefix, extra
    # whitespace removed, user-defined symbols, and a pad piece.
    "bpe-rules": dict(
        model_type="bpe",
        vocab_size=1300,
        character_coverage=0.98,
        add_dummy_prefix=False,
        remove_extra_whitespaces=True,
        user_defined_symbols=["<sep>", "<tool>", "</tool>", "▁▁"],
        pad_id=3,
    ),
    # unigram with byte fallback and no normalization at all.
    "unigram-bytes": dict(
        model_type="unigram",
        vocab_size=1400,
        byte_fallback=True,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        character_coverage=0.995,
        user_defined_symbols=["<sep>"],
        unk_surface="<?>",
    ),
    # Baichuan 2's options (as its technical report describes them): Llama's,
    # but no dummy prefix, and reserved symbols for the chat roles.
    "baichuan-bpe": dict(LLAMA_OPTIONS, add_dummy_prefix=False, user_defined_symbols=["<reserved_106>", "<reserved_107>"]),
}


def train_sentencepiece(corpus_path: str, out_dir: str, tmp: str) -> None:
    rules_path = os.path.join(tmp, "rules.tsv")
    with open(rules_path, "w", encoding="utf-8") as f:
        for source, target in CUSTOM_RULES:
            f.write(f"{source}\t{target}\n")
    for name, options in SP_MODELS.items():
        extra = {}
        if name == "bpe-rules":
            extra["normalization_rule_tsv"] = rules_path
        prefix = os.path.join(tmp, name)
        spm.SentencePieceTrainer.train(
            input=corpus_path,
            model_prefix=prefix,
            num_threads=1,
            minloglevel=2,
            **options,
            **extra,
        )
        shutil.copy(prefix + ".model", os.path.join(out_dir, name + ".model"))


def sentencepiece_goldens(sp_dir: str) -> dict:
    out = {}
    rng = random.Random(7)
    for name in SP_MODELS:
        sp = spm.SentencePieceProcessor(model_file=os.path.join(sp_dir, name + ".model"))
        cases = []
        for text in CASES:
            ids = sp.encode(text)
            cases.append(
                {
                    "text": text,
                    "ids": ids,
                    "pieces": sp.encode(text, out_type=str),
                    "decoded": sp.decode(ids),
                }
            )
        # Id sequences a model may generate: any order of control, unknown,
        # user-defined and byte pieces, including bytes that are not UTF-8.
        size = sp.get_piece_size()
        byte_ids = [i for i in range(size) if sp.is_byte(i)]
        special_ids = [i for i in range(size) if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)]
        decodes = []
        for _ in range(60):
            n = rng.randint(1, 12)
            seq = []
            for _ in range(n):
                r = rng.random()
                if byte_ids and r < 0.35:
                    seq.append(rng.choice(byte_ids))
                elif r < 0.45:
                    seq.append(rng.choice(special_ids))
                else:
                    seq.append(rng.randrange(size))
            decodes.append({"ids": seq, "text": sp.decode(seq)})
        out[name] = {"size": size, "cases": cases, "decodes": decodes}
    return out


# ---------------------------------------------------------------------------
# transformers' slow tokenizers


def import_transformers_4():
    # transformers 4.57 checks at import that huggingface-hub is older than
    # 1.0; the tokenizers used here never call the hub.
    real_version = importlib.metadata.version

    def version(name):
        if name in ("huggingface-hub", "huggingface_hub"):
            return "0.36.0"
        return real_version(name)

    importlib.metadata.version = version
    import transformers

    importlib.metadata.version = real_version
    if not transformers.__version__.startswith("4."):
        sys.exit(f"transformers 4.x is needed (slow LlamaTokenizer); found {transformers.__version__}")
    return transformers


SLOW_CASES = CASES + [
    "<s>",
    "</s>",
    "Hello</s>world",
    "Hello </s> world",
    "<s> Hello",
    "<s>Hello",
    "text with <s> inside and </s>end",
    "added <|tool|> token<|tool|>x",
    " <s>",
]


def sentencepiece_with_dummy_prefix(path: str, add_dummy_prefix):
    """The model at `path`, with its normalizer's add_dummy_prefix set when not None."""
    if add_dummy_prefix is None:
        return spm.SentencePieceProcessor(model_file=path)
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    with open(path, "rb") as f:
        proto.ParseFromString(f.read())
    proto.normalizer_spec.add_dummy_prefix = add_dummy_prefix
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


def llama_slow_goldens(transformers, sp_dir: str) -> dict:
    from transformers import AddedToken, LlamaTokenizer

    out = {}
    for model in ["llama-bpe", "baichuan-bpe", "unigram-nfkc"]:
        for legacy in [True, False]:
            tok = LlamaTokenizer(
                vocab_file=os.path.join(sp_dir, model + ".model"),
                legacy=legacy,
                add_bos_token=True,
                add_eos_token=False,
            )
            tok.add_tokens([AddedToken("<|tool|>", special=False, normalized=False)])
            added_id = tok.convert_tokens_to_ids("<|tool|>")
            sp = sentencepiece_with_dummy_prefix(os.path.join(sp_dir, model + ".model"), None if legacy else True)
            rows = []
            for text in SLOW_CASES:
                ids = tok.encode(text)
                row = {"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)}
                # What sentencepiece itself makes of the same ids without the special tokens
                # (transformers' decode differs: it drops the first piece's space even when
                # the text had one, and puts spaces around added tokens). Without legacy the
                # tokenizer writes the leading "▁" itself, so decoding drops it as a dummy prefix.
                if added_id not in ids:
                    row["sp_decoded"] = sp.decode([i for i in ids if i not in tok.all_special_ids])
                rows.append(row)
            out[f"{model} legacy={str(legacy).lower()}"] = {
                "added_token_id": added_id,
                "cases": rows,
            }
    return out


# ---------------------------------------------------------------------------
# GPT-2 byte-level BPE from vocab.json + merges.txt


def gpt2_goldens(transformers, corpus_lines: list, out_dir: str) -> dict:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Tokenizer, GPT2TokenizerFast

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(corpus_lines, vocab_size=900, min_frequency=2, special_tokens=["<|endoftext|>"])
    trainer.save_model(out_dir)
    slow = GPT2Tokenizer(os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt"))
    fast = GPT2TokenizerFast(
        vocab_file=os.path.join(out_dir, "vocab.json"), merges_file=os.path.join(out_dir, "merges.txt")
    )
    # With add_prefix_space the two classes disagree (the slow one adds one space to the whole
    # text, the fast one to every stretch between special tokens that lacks one); Oar follows
    # the fast one, which AutoTokenizer gives.
    fast_prefix = GPT2TokenizerFast(
        vocab_file=os.path.join(out_dir, "vocab.json"),
        merges_file=os.path.join(out_dir, "merges.txt"),
        add_prefix_space=True,
    )
    cases = []
    for text in CASES + ["<|endoftext|>", "one<|endoftext|>two", " <|endoftext|> spaced"]:
        ids = slow.encode(text)
        fast_ids = fast.encode(text)
        if ids != fast_ids:
            sys.exit(f"GPT2Tokenizer and GPT2TokenizerFast disagree on {text!r}: {ids} {fast_ids}")
        cases.append(
            {
                "text": text,
                "ids": ids,
                "ids_add_prefix_space": fast_prefix.encode(text),
                "decoded": slow.decode(ids),
                "decoded_skip": slow.decode(ids, skip_special_tokens=True),
            }
        )
    return {"endoftext": slow.convert_tokens_to_ids("<|endoftext|>"), "cases": cases}


# ---------------------------------------------------------------------------
# tiktoken, in GLM-4's layout

GLM4_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def gpt2_byte_order() -> list:
    # GPT-2's byte order: the printable bytes first, then the rest.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    return printable + [b for b in range(256) if b not in printable]


def train_ranks(corpus_lines: list, merges: int) -> dict:
    """A plain byte-level BPE trainer: count pairs inside pre-tokenized chunks, merge the most frequent."""
    pattern = regex.compile(GLM4_PATTERN)
    chunks = collections.Counter()
    for line in corpus_lines:
        for m in pattern.findall(line + "\n"):
            chunks[m.encode("utf-8")] += 1
    ranks = {bytes([b]): i for i, b in enumerate(gpt2_byte_order())}
    words = {chunk: [bytes([b]) for b in chunk] for chunk in chunks}
    for _ in range(merges):
        pairs = collections.Counter()
        for chunk, parts in words.items():
            for a, b in zip(parts, parts[1:]):
                pairs[(a, b)] += chunks[chunk]
        if not pairs:
            break
        (a, b), _count = max(pairs.items(), key=lambda item: (item[1], item[0]))
        merged = a + b
        ranks[merged] = len(ranks)
        for chunk, parts in words.items():
            i = 0
            out = []
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            words[chunk] = out
    return ranks


def tiktoken_goldens(corpus_lines: list, out_dir: str) -> dict:
    ranks = train_ranks(corpus_lines[:1500], 700)
    with open(os.path.join(out_dir, "tokenizer.model"), "w", encoding="ascii") as f:
        for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
            f.write(f"{base64.b64encode(token).decode('ascii')} {rank}\n")
    enc = tiktoken.Encoding(name="glm4-like", pat_str=GLM4_PATTERN, mergeable_ranks=ranks, special_tokens={})
    cases = []
    extra = [
        "\u0085next line\u2028separator\u00a0nbsp\ufeffbom",
        "x\r\n\r\n  y\n\n\t z",
        "I'LL SEE YOU'RE HERE, DON'T",
        "12345678 数字123 ٣٤٥",
    ]
    for text in CASES + extra:
        ids = enc.encode_ordinary(text)
        cases.append({"text": text, "ids": ids, "decoded": enc.decode(ids)})
    return {"size": len(ranks), "cases": cases}


# ---------------------------------------------------------------------------
# Chat prompts, composed the way each model's remote code composes them

CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "你好"}],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And times 3?\nExplain."},
    ],
    [
        {"role": "user", "content": "  leading spaces and a tab\t"},
        {"role": "assistant", "content": "call a tool", "metadata": "weather"},
        {"role": "observation", "content": "{\"temp\": 21}"},
    ],
]


def chat_goldens(sp_dir: str, tiktoken_dir: str) -> dict:
    sp = spm.SentencePieceProcessor(model_file=os.path.join(sp_dir, "llama-bpe.model"))
    n = sp.get_piece_size()
    # ChatGLM2/3 append their specials after the sentencepiece vocabulary.
    glm3_specials = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]
    glm3 = {token: n + i for i, token in enumerate(glm3_specials)}

    def chatglm3(messages):
        ids = [glm3["[gMASK]"], glm3["sop"]]
        for m in messages:
            ids += [glm3[f"<|{m['role']}|>"]] + sp.encode(f"{m.get('metadata', '')}\n") + sp.encode(m["content"])
        return ids + [glm3["<|assistant|>"]]

    def chatglm2(messages):
        prompt = ""
        pairs = [(messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages) - 1, 2)]
        for i, (q, r) in enumerate(pairs):
            prompt += "[Round {}]\n\n问：{}\n\n答：{}\n\n".format(i + 1, q, r)
        prompt += "[Round {}]\n\n问：{}\n\n答：".format(len(pairs) + 1, messages[-1]["content"])
        return [glm3["[gMASK]"], glm3["sop"]] + sp.encode(prompt)

    ranks = {}
    with open(os.path.join(tiktoken_dir, "tokenizer.model"), encoding="ascii") as f:
        for line in f:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding(name="glm4-like", pat_str=GLM4_PATTERN, mergeable_ranks=ranks, special_tokens={})
    base = len(ranks)
    glm4_specials = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]
    glm4 = {token: base + i for i, token in enumerate(glm4_specials)}

    def glm4_chat(messages):
        ids = [glm4["[gMASK]"], glm4["<sop>"]]
        for m in messages:
            if m["content"]:
                ids += [glm4[f"<|{m['role']}|>"]] + enc.encode(f"{m.get('metadata', '')}\n") + enc.encode(m["content"])
        return ids + [glm4["<|assistant|>"]]

    bc = spm.SentencePieceProcessor(model_file=os.path.join(sp_dir, "baichuan-bpe.model"))
    user_id, assistant_id = bc.piece_to_id("<reserved_106>"), bc.piece_to_id("<reserved_107>")

    def baichuan(messages, max_input_tokens):
        system, rounds, current = "", [], []
        for i, m in enumerate(messages):
            if m["role"] == "system":
                system = m["content"]
                continue
            if m["role"] == "user" and current:
                rounds.append(current)
                current = []
            current.append(m)
        if current:
            rounds.append(current)
        system_tokens = bc.encode(system)
        max_history = max_input_tokens - len(system_tokens)
        history = []
        for r in rounds[::-1]:
            round_tokens = []
            for m in r:
                round_tokens.append(user_id if m["role"] == "user" else assistant_id)
                round_tokens.extend(bc.encode(m["content"]))
            if len(history) == 0 or len(history) + len(round_tokens) <= max_history:
                history = round_tokens + history
                if len(history) < max_history:
                    continue
            break
        tokens = system_tokens + history
        if messages[-1]["role"] != "assistant":
            tokens.append(assistant_id)
        return tokens[-max_input_tokens:]

    out = {"chatglm3": [], "chatglm2": [], "glm4": [], "baichuan": []}
    for messages in CHAT_CONVERSATIONS:
        out["chatglm3"].append({"messages": messages, "ids": chatglm3(messages)})
        out["glm4"].append({"messages": messages, "ids": glm4_chat(messages)})
        plain = [m for m in messages if m["role"] in ("user", "assistant")]
        if [m["role"] for m in plain] == ["user", "assistant"] * (len(plain) // 2) + ["user"]:
            out["chatglm2"].append({"messages": plain, "ids": chatglm2(plain)})
        baichuan_messages = [m for m in messages if m["role"] != "observation"]
        for limit in [4096, 30, 12, 5]:
            out["baichuan"].append(
                {"messages": baichuan_messages, "max_input_tokens": limit, "ids": baichuan(baichuan_messages, limit)}
            )
    out["baichuan_user_token_id"] = user_id
    out["baichuan_assistant_token_id"] = assistant_id
    return out


def write_json(name: str, value) -> None:
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main() -> None:
    transformers = import_transformers_4()
    corpus = make_corpus(random.Random(0))
    sp_dir = os.path.join(HERE, "sentencepiece")
    gpt2_dir = os.path.join(HERE, "gpt2")
    tiktoken_dir = os.path.join(HERE, "tiktoken")
    for d in (sp_dir, gpt2_dir, tiktoken_dir):
        os.makedirs(d, exist_ok=True)
    # A fixed work folder: sentencepiece records its input and output paths in the model.
    tmp = os.path.join(tempfile.gettempdir(), "oar-tokenizer-goldens")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    corpus_path = os.path.join(tmp, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus) + "\n")
    train_sentencepiece(corpus_path, sp_dir, tmp)
    shutil.rmtree(tmp)
    write_json("sentencepiece.json", sentencepiece_goldens(sp_dir))
    write_json("llama-slow.json", llama_slow_goldens(transformers, sp_dir))
    write_json("gpt2.json", gpt2_goldens(transformers, corpus, gpt2_dir))
    write_json("tiktoken.json", tiktoken_goldens(corpus, tiktoken_dir))
    write_json("chat.json", chat_goldens(sp_dir, tiktoken_dir))
    versions = {
        name: importlib.metadata.version(name) for name in ["sentencepiece", "tiktoken", "tokenizers", "transformers"]
    }
    write_json("versions.json", versions)


if __name__ == "__main__":
    main()

/**
 * parseSentencePieceModel rejects broken and unsupported models with the
 * file's name and what is wrong. The models are written here field by field
 * with protobufjs's Writer (field numbers of sentencepiece_model.proto).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import protobuf from "protobufjs";
import { readGoldenBytes } from "../goldens.js";
import { parseCharsmap } from "./charsmap.js";
import { parseSentencePieceModel } from "./model.js";

interface PieceSpec {
  piece: string;
  score?: number;
  type?: number;
}
interface ModelSpec {
  pieces: PieceSpec[];
  modelType?: number;
  byteFallback?: boolean;
  treatWhitespaceAsSuffix?: boolean;
  denormalizerCharsmap?: Uint8Array;
}

const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

function writeModel(spec: ModelSpec): Uint8Array {
  const w = protobuf.Writer.create();
  for (const p of spec.pieces) {
    const pw = protobuf.Writer.create();
    pw.uint32((1 << 3) | 2).string(p.piece);
    pw.uint32((2 << 3) | 5).float(p.score ?? 0);
    pw.uint32((3 << 3) | 0).int32(p.type ?? NORMAL);
    w.uint32((1 << 3) | 2).bytes(pw.finish());
  }
  const tw = protobuf.Writer.create();
  tw.uint32((3 << 3) | 0).int32(spec.modelType ?? 2);
  if (spec.treatWhitespaceAsSuffix) tw.uint32((24 << 3) | 0).bool(true);
  if (spec.byteFallback) tw.uint32((35 << 3) | 0).bool(true);
  w.uint32((2 << 3) | 2).bytes(tw.finish());
  if (spec.denormalizerCharsmap !== undefined) {
    const dw = protobuf.Writer.create();
    dw.uint32((2 << 3) | 2).bytes(spec.denormalizerCharsmap);
    w.uint32((5 << 3) | 2).bytes(dw.finish());
  }
  return w.finish();
}

const BASE: PieceSpec[] = [{ piece: "<unk>", type: UNKNOWN }, { piece: "<s>", type: CONTROL }, { piece: "a" }, { piece: "b" }];

describe("parseSentencePieceModel", () => {
  it("reads a minimal BPE model with sentencepiece's defaults", () => {
    const model = parseSentencePieceModel(writeModel({ pieces: BASE }), "m.model");
    assert.equal(model.modelType, "bpe");
    assert.deepEqual(model.pieces.map((p) => p.type), ["unknown", "control", "normal", "normal"]);
    assert.equal(model.unkSurface, " \u2047 ");
    assert.deepEqual(
      [model.normalizer.addDummyPrefix, model.normalizer.removeExtraWhitespaces, model.normalizer.escapeWhitespaces, model.normalizer.charsmap],
      [true, true, true, null],
    );
  });

  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["bytes that are not protobuf", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), /^m\.model: not a sentencepiece model \(its protobuf does not decode: /],
    ["a model with no pieces", writeModel({ pieces: [] }), /^m\.model: not a sentencepiece model \(it has no pieces\)$/],
    ["a WORD model", writeModel({ pieces: BASE, modelType: 3 }), /^m\.model: model_type WORD is not supported \(only UNIGRAM and BPE models are\)$/],
    ["treat_whitespace_as_suffix", writeModel({ pieces: BASE, treatWhitespaceAsSuffix: true }), /^m\.model: treat_whitespace_as_suffix is not supported$/],
    ["a denormalizer", writeModel({ pieces: BASE, denormalizerCharsmap: new Uint8Array(12) }), /^m\.model: a denormalizer .* is not supported$/],
    ["two pieces with one text", writeModel({ pieces: [...BASE, { piece: "a" }] }), /^m\.model: pieces 2 and 4 are both "a"$/],
    ["an empty piece", writeModel({ pieces: [...BASE, { piece: "" }] }), /^m\.model: piece 4 is empty$/],
    ["no unknown piece", writeModel({ pieces: BASE.slice(1) }), /^m\.model: a model needs exactly one unknown piece \(<unk>\); found 0$/],
    ["a piece type that does not exist", writeModel({ pieces: [...BASE, { piece: "c", type: 9 }] }), /^m\.model: piece 4 has type 9/],
    ["a byte piece without byte_fallback", writeModel({ pieces: [...BASE, { piece: "<0x41>", type: BYTE }] }), /^m\.model: piece 4 "<0x41>" is a byte piece but byte_fallback is false$/],
    ["a badly spelled byte piece", writeModel({ pieces: [...BASE, { piece: "<0x4>", type: BYTE }], byteFallback: true }), /^m\.model: byte piece 4 is "<0x4>"/],
    ["byte_fallback with bytes missing", writeModel({ pieces: [...BASE, { piece: "<0x41>", type: BYTE }], byteFallback: true }), /^m\.model: byte_fallback is true but only 1 of the 256 byte pieces are present$/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}`, () => {
      assert.throws(() => parseSentencePieceModel(bytes, "m.model"), (e: Error) => {
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    });
  }

  it("rejects a truncated real model", () => {
    const real = readGoldenBytes("sentencepiece/llama-bpe.model");
    assert.throws(() => parseSentencePieceModel(real.subarray(0, real.length - 7), "m.model"), /^Error: m\.model: not a sentencepiece model/);
  });
});

describe("parseCharsmap", () => {
  it("rejects sizes that do not fit", () => {
    assert.throws(() => parseCharsmap(new Uint8Array(4), "cm"), /^Error: cm: 4 bytes is too short for a character map$/);
    const blob = new Uint8Array(12);
    new DataView(blob.buffer).setUint32(0, 400, true);
    assert.throws(() => parseCharsmap(blob, "cm"), /^Error: cm: its trie claims 400 bytes of a 12-byte map$/);
  });

  it("checks every index it follows", () => {
    // One unit whose offset points far outside the 2-unit trie.
    const blob = new Uint8Array(4 + 8 + 2);
    const view = new DataView(blob.buffer);
    view.setUint32(0, 8, true);
    view.setUint32(4, 5000 << 10, true);
    const map = parseCharsmap(blob, "cm");
    assert.throws(() => map.longestMatch("a", 0), /^Error: cm: the trie points outside itself/);
  });
});

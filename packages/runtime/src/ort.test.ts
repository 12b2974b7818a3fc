import assert from "node:assert/strict";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { type DeclaredValue, type Feed, checkFeeds, openSession } from "./ort.js";
import { testExports } from "./testing/exports.js";

const exports = testExports("ort");
after(() => exports.remove());

const i64 = (values: number[], dims: number[]): Feed => ({ type: "int64", data: BigInt64Array.from(values, (v) => BigInt(v)), dims });
const f32 = (dims: number[]): Feed => ({ type: "float32", data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims });

describe("feeds are checked against the session's inputs", () => {
  const inputs: DeclaredValue[] = [
    { name: "input_ids", type: "int64", shape: ["batch_size", "sequence_length"] },
    { name: "past", type: "float32", shape: ["batch_size", 2, "past", 16] },
  ];

  it("finds a missing input, a wrong type, a wrong fixed dimension, a symbol of two sizes and an unknown name", () => {
    assert.deepEqual(checkFeeds(inputs, { input_ids: i64([1, 2], [1, 2]), past: f32([1, 2, 0, 16]) }), []);
    assert.deepEqual(checkFeeds(inputs, { input_ids: i64([1], [1, 1]) }), ["past is missing"]);
    assert.deepEqual(checkFeeds(inputs, { input_ids: { ...f32([1, 1]) }, past: f32([1, 2, 0, 16]) }), ["input_ids is float32, expected int64"]);
    assert.deepEqual(checkFeeds(inputs, { input_ids: i64([1], [1, 1]), past: f32([1, 2, 0, 8]) }), ["past dimension 3 is 8, expected 16"]);
    assert.deepEqual(checkFeeds(inputs, { input_ids: i64([1, 2], [2, 1]), past: f32([1, 2, 0, 16]) }), [
      "past dimension 0 (batch_size) is 1, but batch_size is 2 in an earlier input",
    ]);
    assert.deepEqual(checkFeeds(inputs, { input_ids: i64([1], [1, 1]), past: f32([1, 2, 0, 16]), extra: f32([1]) }), ["extra is not an input of the graph"]);
  });

  it("a wrong feed to a real graph reports every input's name, dtype and shape, expected and fed", async () => {
    const dir = await exports.dir(cachedTinyModel({ arch: "llama", preset: "tiny", dtype: "f32" }));
    const session = await openSession(path.join(dir, "model.onnx"), { device: "cpu" });
    try {
      const feeds: Record<string, Feed> = {
        input_ids: i64([1, 2], [1, 2]),
        attention_mask: i64([1, 1], [1, 2]),
        position_ids: i64([0, 1], [1, 2]),
        num_logits_to_keep: i64([1], []),
      };
      for (let l = 0; l < 2; l++) for (const kind of ["key", "value"]) feeds[`past_key_values.${l}.${kind}`] = f32([1, 2, 0, 8]);
      await assert.rejects(session.run(feeds, ["logits"]), (e: Error) => {
        const lines = e.message.split("\n");
        assert.match(lines[0]!, /model\.onnx: wrong feeds: past_key_values\.0\.key dimension 3 is 8, expected 16; /);
        assert.match(lines[1]!, /^ {2}input +expected +fed$/);
        assert.match(e.message, /\n {2}input_ids +int64 \[batch_size, sequence_length\] +int64 \[1, 2\]\n/);
        assert.match(e.message, /\n {2}past_key_values\.1\.value +float32 \[batch_size, 2, past_sequence_length, 16\] +float32 \[1, 2, 0, 8\]/);
        assert.equal(lines.length, 2 + 8, "a row per input");
        return true;
      });
      // onnxruntime's own refusal (a value the declared shapes allow) gets the same table.
      feeds["attention_mask"] = i64([1, 1, 1], [1, 3]);
      for (let l = 0; l < 2; l++) for (const kind of ["key", "value"]) feeds[`past_key_values.${l}.${kind}`] = f32([1, 2, 0, 16]);
      await assert.rejects(session.run(feeds, ["logits"]), /wrong feeds: onnxruntime refused them: .*\n {2}input +expected +fed\n/);
      await assert.rejects(session.run(feeds, ["logitz"]), /the graph has no output logitz/);
    } finally {
      await session.release();
    }
  });
});

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type GlobalHandler, INLINE_BYTES, MAX_DEPTH, type PicklePolicy, type PyValue, unpickle } from "./pickle.js";
import { OP, binbytes, bytes, frame, global, inst, int, long1, pickle, proto, str } from "./testing/pickle-bytes.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-pickle-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Allows only "test.point" (called with two ints, builds a point) and "test.name" (may be named, not called); BUILD refused. */
const policy: PicklePolicy = {
  describe: "a test file",
  globals: new Map<string, GlobalHandler>([
    ["test.point", { call: (args) => ({ kind: "object", type: "point", payload: args }) }],
    ["test.name", {}],
  ]),
  build: (_obj, _state, ctx) => {
    throw new Error(`${ctx.where}: BUILD refused by the test policy`);
  },
};

let counter = 0;
function run(data: Uint8Array, p: PicklePolicy = policy): PyValue {
  const file = path.join(dir, `p${counter++}.pkl`);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, "r");
  try {
    return unpickle({ fd, file, what: null, start: 0, end: data.length }, p);
  } finally {
    fs.closeSync(fd);
  }
}

function refuses(data: Uint8Array, error: RegExp, p: PicklePolicy = policy): void {
  assert.throws(() => run(data, p), (e: Error) => {
    assert.match(e.message, error);
    assert.ok(/^\S+\.pkl: /.test(e.message), `names the file: ${e.message}`);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

describe("unpickle builds data", () => {
  it("reads ints, floats, strings, bytes, tuples, lists, dicts and sets", () => {
    const v = run(
      pickle(
        4,
        frame(80),
        OP.EMPTY_DICT,
        OP.MEMOIZE,
        OP.MARK,
        str("ints"),
        bytes(OP.MARK, int(-5), OP.BININT1, 7, long1(0x00, 0x00, 0x00, 0x00, 0x01), long1(0xff), OP.TUPLE),
        str("bytes"),
        binbytes(new Uint8Array([1, 2, 3])),
        str("list"),
        bytes(OP.EMPTY_LIST, OP.MEMOIZE, OP.MARK, OP.NONE, OP.NEWTRUE, OP.APPENDS),
        str("again"),
        bytes(OP.BINGET, 1),
        OP.SETITEMS,
      ),
    );
    assert.ok(typeof v === "object" && v !== null && v.kind === "dict");
    const ints = v.entries.get("ints");
    assert.ok(typeof ints === "object" && ints !== null && ints.kind === "tuple");
    assert.deepEqual(ints.items, [-5, 7, 2 ** 32, -1]);
    const b = v.entries.get("bytes");
    assert.ok(typeof b === "object" && b !== null && b.kind === "bytes");
    assert.deepEqual([...b.data!], [1, 2, 3]);
    const list = v.entries.get("list");
    assert.ok(typeof list === "object" && list !== null && list.kind === "list");
    assert.deepEqual(list.items, [null, true]);
    assert.equal(v.entries.get("again"), list, "a memo GET gives the same object");
  });

  it("keeps large bytes in the file as a span", () => {
    const big = new Uint8Array(INLINE_BYTES + 1).fill(7);
    const v = run(pickle(4, binbytes(big)));
    assert.ok(typeof v === "object" && v !== null && v.kind === "bytes");
    assert.equal(v.data, null);
    assert.equal(v.length, big.length);
    assert.equal(v.at, 2 + 5);
  });

  it("calls an allowed global through the policy, and shares a value referenced twice without calling it again", () => {
    const v = run(pickle(2, global("test", "point"), OP.BINPUT, 0, int(1), int(2), OP.TUPLE2, OP.REDUCE, OP.BINPUT, 1, OP.BINGET, 1, OP.TUPLE2));
    assert.ok(typeof v === "object" && v !== null && v.kind === "tuple");
    assert.equal(v.items[0], v.items[1]);
    assert.deepEqual(v.items[0], { kind: "object", type: "point", payload: [1, 2] });
  });
});

describe("unpickle refuses", () => {
  const cases: { name: string; data: Uint8Array; error: RegExp }[] = [
    { name: "a global the policy does not list, by GLOBAL", data: pickle(2, global("os", "system"), str("touch x"), OP.TUPLE1, OP.REDUCE), error: /refuses the global os\.system: a pickle of a test file never needs it, and this loader runs nothing from a file/ },
    { name: "a global by STACK_GLOBAL", data: pickle(4, str("builtins"), str("exec"), OP.STACK_GLOBAL, str("print(1)"), OP.TUPLE1, OP.REDUCE), error: /refuses the global builtins\.exec/ },
    { name: "INST of a global not listed", data: pickle(2, OP.MARK, str("ls"), inst("subprocess", "Popen")), error: /refuses the global subprocess\.Popen/ },
    { name: "INST of a listed global", data: pickle(2, OP.MARK, int(1), int(2), inst("test", "point")), error: /INST of test\.point: building class instances is not allowed/ },
    { name: "OBJ", data: pickle(2, OP.MARK, global("test", "name"), OP.OBJ), error: /OBJ of the global test\.name: building class instances is not allowed/ },
    { name: "NEWOBJ", data: pickle(2, global("test", "name"), OP.EMPTY_TUPLE, OP.NEWOBJ), error: /NEWOBJ of the global test\.name/ },
    { name: "calling a global that may only be named", data: pickle(2, global("test", "name"), OP.EMPTY_TUPLE, OP.REDUCE), error: /REDUCE calls test\.name, which may be named but not called/ },
    { name: "REDUCE on something not a global", data: pickle(2, OP.EMPTY_LIST, OP.EMPTY_TUPLE, OP.REDUCE), error: /REDUCE calls a list, not an allowed global/ },
    { name: "REDUCE with arguments that are not a tuple", data: pickle(2, global("test", "point"), OP.EMPTY_LIST, OP.REDUCE), error: /REDUCE of test\.point with a list for arguments/ },
    { name: "a persistent id without a persistent_load", data: pickle(2, str("storage"), OP.BINPERSID), error: /holds a persistent id, which a pickle of a test file never has/ },
    { name: "an extension code", data: pickle(2, OP.EXT1, 1), error: /extension-registry opcode/ },
    { name: "an out-of-band buffer", data: pickle(5, OP.NEXT_BUFFER), error: /out-of-band buffer opcode/ },
    { name: "protocol 1 (no PROTO)", data: bytes(OP.EMPTY_LIST, OP.STOP), error: /does not start with a PROTO opcode/ },
    { name: "protocol 6", data: pickle(6, OP.NONE), error: /pickle protocol 6; protocols 2 to 5 are read/ },
    { name: "a Python 2 string", data: pickle(2, OP.SHORT_BINSTRING, 1, 0x41), error: /Python 2 \/ protocol 0 string opcode/ },
    { name: "a string longer than the file", data: pickle(2, bytes(0x58, 0xff, 0xff, 0xff, 0x7f)), error: /BINUNICODE of 2147483647 bytes at offset \d+ runs past the end of the pickle/ },
    { name: "bytes longer than the file (BINBYTES8)", data: pickle(4, bytes(0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), error: /BINBYTES8 declares 9223372036854775807 bytes/ },
    { name: "an integer of 200 bytes", data: pickle(2, bytes(0x8a, 200, new Uint8Array(200))), error: /an integer of 200 bytes \(LONG1\)/ },
    { name: "a GET of a memo entry never PUT", data: pickle(2, OP.BINGET, 3), error: /GET of memo entry 3, which was never PUT/ },
    { name: "MARKs nested 65 deep", data: pickle(2, new Array(65).fill(OP.MARK)), error: /MARKs nest deeper than 64/ },
    { name: "a list that contains itself", data: pickle(2, OP.EMPTY_LIST, OP.BINPUT, 0, OP.BINGET, 0, OP.APPEND), error: /holds a list that contains itself \(a recursive structure\)/ },
    { name: "lists nested deeper than the limit", data: pickle(2, new Array(MAX_DEPTH + 3).fill(OP.EMPTY_LIST), new Array(MAX_DEPTH + 2).fill(OP.APPEND)), error: new RegExp(`nests containers deeper than ${MAX_DEPTH} levels`) },
    { name: "a dict key that is a list", data: pickle(2, OP.EMPTY_DICT, OP.EMPTY_LIST, OP.NONE, OP.SETITEM), error: /a dict key is a list; only str, int, bool and None keys are read/ },
    { name: "SETITEM on a list", data: pickle(2, OP.EMPTY_LIST, str("k"), OP.NONE, OP.SETITEM), error: /SETITEM on a list, not a dict/ },
    { name: "BUILD the policy refuses", data: pickle(2, OP.EMPTY_DICT, OP.EMPTY_DICT, OP.BUILD), error: /BUILD refused by the test policy/ },
    { name: "bytes after STOP", data: bytes(pickle(2, OP.NONE), 0), error: /1 bytes follow the pickle's STOP/ },
    { name: "a pickle without STOP", data: bytes(proto(2), OP.NONE), error: /an opcode of 1 bytes at offset 3 runs past the end of the pickle/ },
    { name: "values left on the stack", data: pickle(2, OP.NONE, OP.NONE), error: /STOP leaves 1 values and 0 MARKs behind/ },
    { name: "an unknown opcode", data: pickle(2, 0xff), error: /unknown pickle opcode 0xff at offset 2/ },
  ];
  for (const c of cases) it(c.name, () => refuses(c.data, c.error));

  it("a memo grown past its cap (without allocating for the index it names)", () => {
    // LONG_BINPUT of index 2^32-1 stores one entry; the memo is a map, not an array sized by the index.
    const v = run(pickle(2, OP.NONE, bytes(0x72, 0xff, 0xff, 0xff, 0xff)));
    assert.equal(v, null);
  });
});

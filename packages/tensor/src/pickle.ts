import * as fs from "node:fs";

/*
 * An allow-list unpickler, in the spirit of PyTorch's `weights_only=True`.
 * A pickle is a program for a small stack machine whose instructions can
 * import any Python callable (GLOBAL, STACK_GLOBAL, INST) and call it
 * (REDUCE, NEWOBJ, BUILD's __setstate__): loading one with Python's pickle
 * runs whatever the file says. This interpreter runs only the data-building
 * instructions itself, and everything that would import or call is decided
 * by a policy that names the few globals a tensor checkpoint needs, each
 * with a TypeScript function that builds a plain description of the value
 * (a torch tensor record, a numpy array) after checking its arguments. Any
 * other global is refused when it is named, before anything is called or
 * built; nothing from the file is ever executed.
 *
 * Bounded: protocols 2 to 5 only; every length is checked against the bytes
 * left before anything is allocated; the memo, the stack and the nesting of
 * MARKs are capped; the result may not contain itself or nest deeper than
 * MAX_DEPTH. Large bytes and strings (array data in a .pdparams file) are
 * not read: they become spans of the file, read later if needed, so opening
 * a multi-GB pickle reads only its opcodes.
 */

/** A bytes object: a span of the file, and its content when small enough to hold. */
export interface PyBytes {
  readonly kind: "bytes";
  /** Absolute offset in the file. */
  readonly at: number;
  readonly length: number;
  /** The bytes, when at most INLINE_BYTES; null otherwise. */
  readonly data: Uint8Array | null;
}

/** A str too long to decode here: its UTF-8 bytes' span in the file. */
export interface PyLongString {
  readonly kind: "long-str";
  readonly at: number;
  readonly length: number;
}

export interface PyList {
  readonly kind: "list";
  readonly items: PyValue[];
}

export interface PyTuple {
  readonly kind: "tuple";
  readonly items: readonly PyValue[];
}

export interface PySet {
  readonly kind: "set";
  readonly items: PyValue[];
}

/** The hashable values a dict key may be. */
export type PyKey = string | number | bigint | boolean | null;

/** A dict (or OrderedDict); `attrs` holds the instance attributes a BUILD gave it (an OrderedDict's `_metadata`). */
export interface PyDict {
  readonly kind: "dict";
  readonly entries: Map<PyKey, PyValue>;
  attrs: Map<string, PyValue> | null;
}

/** A global the policy allows, named by GLOBAL or STACK_GLOBAL (a class or function, not yet called). */
export interface PyGlobal {
  readonly kind: "global";
  readonly module: string;
  readonly name: string;
}

/** A value a policy built; `type` names it in messages, `payload` is the policy's own description. */
export interface PyObject {
  readonly kind: "object";
  readonly type: string;
  readonly payload: unknown;
}

export type PyValue = null | boolean | number | bigint | string | PyBytes | PyLongString | PyList | PyTuple | PySet | PyDict | PyGlobal | PyObject;

/** What the policy is told about the pickle being read. */
export interface PickleContext {
  /** "file: data.pkl", for messages. */
  readonly where: string;
}

/** What an allowed global may be used for. */
export interface GlobalHandler {
  /** REDUCE: the global called with `args` (a global without `call` may only be passed around). */
  readonly call?: (args: readonly PyValue[], ctx: PickleContext) => PyValue;
}

/** The globals a kind of file may use, and what BUILD and persistent ids mean in it. */
export interface PicklePolicy {
  /** What the file should hold, for refusals: "a torch state dict". */
  readonly describe: string;
  /** Allowed globals by "module.name". */
  readonly globals: ReadonlyMap<string, GlobalHandler>;
  /** BUILD: `obj` given `state`; returns the object that replaces it, or throws. */
  build(obj: PyValue, state: PyValue, ctx: PickleContext): PyValue;
  /** BINPERSID / PERSID; a policy without it refuses persistent ids. */
  readonly persistentLoad?: (pid: PyValue, ctx: PickleContext) => PyValue;
}

/** Where the pickle lies: a region of an open file. */
export interface PickleInput {
  readonly fd: number;
  readonly file: string;
  /** What the region is, in messages ("data.pkl"); null when the pickle is the whole file. */
  readonly what: string | null;
  readonly start: number;
  readonly end: number;
}

/** Bytes objects up to this size are held; larger ones stay spans of the file. */
export const INLINE_BYTES = 1 << 16;
/** Strings up to this size are decoded; larger ones stay spans (only array data is that long). */
const INLINE_STRING = 1 << 20;
const MAX_MEMO = 1 << 22;
const MAX_STACK = 1 << 22;
const MAX_MARKS = 64;
/** Nesting of the finished value: a state dict with its _metadata is 3 deep. */
export const MAX_DEPTH = 32;
/** Text opcodes (GLOBAL's module and name, INT, ...) read at most this many bytes a line. */
const MAX_LINE = 1024;
/** LONG1 / LONG4 integers of more bytes than this are refused: no size, offset or stride is that large. */
const MAX_LONG_BYTES = 16;
const READ_BUFFER = 1 << 16;

/** An error of this module: one line, naming the file and what is wrong. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** A short description of a value's kind, for messages. */
export function describeValue(v: PyValue): string {
  if (v === null) return "None";
  switch (typeof v) {
    case "boolean":
      return "a bool";
    case "number":
      return Number.isInteger(v) ? "an int" : "a float";
    case "bigint":
      return "an int";
    case "string":
      return "a str";
  }
  switch (v.kind) {
    case "bytes":
      return "bytes";
    case "long-str":
      return "a str";
    case "list":
      return "a list";
    case "tuple":
      return "a tuple";
    case "set":
      return "a set";
    case "dict":
      return "a dict";
    case "global":
      return `the global ${v.module}.${v.name}`;
    case "object":
      return `a ${v.type}`;
  }
}

/** Reads the pickle's bytes through a small buffer. */
class Reader {
  pos: number;
  private buf = new Uint8Array(READ_BUFFER);
  private bufStart = 0;
  private bufEnd = 0;

  constructor(
    private readonly input: PickleInput,
    private readonly fail: (message: string) => never,
  ) {
    this.pos = input.start;
  }

  get left(): number {
    return this.input.end - this.pos;
  }

  private fill(n: number): void {
    if (this.pos >= this.bufStart && this.pos + n <= this.bufEnd) return;
    const want = Math.min(Math.max(n, READ_BUFFER), this.input.end - this.pos);
    if (want > this.buf.length) this.buf = new Uint8Array(want);
    let done = 0;
    while (done < want) {
      const got = fs.readSync(this.input.fd, this.buf, done, want - done, this.pos + done);
      if (got === 0) this.fail(`the file ended at byte ${this.pos + done} inside the pickle (truncated?)`);
      done += got;
    }
    this.bufStart = this.pos;
    this.bufEnd = this.pos + want;
  }

  /** Checks that `n` more bytes exist before anything is allocated for them. */
  need(n: number, what: string): void {
    if (n > this.left) this.fail(`${what} of ${n} bytes at offset ${this.pos} runs past the end of the pickle (${this.left} bytes left)`);
  }

  byte(): number {
    this.need(1, "an opcode");
    this.fill(1);
    return this.buf[this.pos++ - this.bufStart]!;
  }

  /** `n` bytes as a view valid until the next read. */
  view(n: number, what: string): DataView {
    this.need(n, what);
    this.fill(n);
    const v = new DataView(this.buf.buffer, this.pos - this.bufStart, n);
    this.pos += n;
    return v;
  }

  /** `n` bytes, copied. */
  bytes(n: number, what: string): Uint8Array {
    const v = this.view(n, what);
    return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + n));
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A text line without its "\n". */
  line(what: string): string {
    const out: number[] = [];
    for (;;) {
      const b = this.byte();
      if (b === 0x0a) break;
      if (out.length >= MAX_LINE) this.fail(`${what} is longer than ${MAX_LINE} bytes`);
      out.push(b);
    }
    return new TextDecoder("utf-8").decode(new Uint8Array(out));
  }
}

/** A length read from the file, checked to be a safe non-negative integer. */
function length(v: bigint | number, fail: (m: string) => never, what: string): number {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} declares ${v} bytes`);
    return Number(v);
  }
  if (v < 0) fail(`${what} declares a negative length ${v}`);
  return v;
}

/** A little-endian two's-complement integer (LONG1, LONG4), as a number when it is safe, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return normalizeInt(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isKey(v: PyValue): v is PyKey {
  return v === null || typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean";
}

/**
 * Runs the pickle in `input` under `policy` and returns the value it builds.
 * Throws a PickleError (one line, naming the file) for anything the policy
 * does not allow or any malformed or oversized structure.
 */
export function unpickle(input: PickleInput, policy: PicklePolicy): PyValue {
  const where = input.what === null ? input.file : `${input.file}: ${input.what}`;
  const ctx: PickleContext = { where };
  const fail = (message: string): never => {
    throw new PickleError(`${where}: ${message}`);
  };
  const r = new Reader(input, fail);
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  let depth = 0;
  const memo = new Map<number, PyValue>();

  const push = (v: PyValue): void => {
    if (depth >= MAX_STACK) fail(`the pickle's stack grows past ${MAX_STACK} values`);
    stack.push(v);
    depth++;
  };
  const pop = (what: string): PyValue => {
    if (stack.length === 0) fail(`${what} finds the stack empty (malformed pickle)`);
    depth--;
    return stack.pop()!;
  };
  const top = (what: string): PyValue => {
    if (stack.length === 0) fail(`${what} finds the stack empty (malformed pickle)`);
    return stack[stack.length - 1]!;
  };
  const popMark = (what: string): PyValue[] => {
    if (marks.length === 0) fail(`${what} finds no MARK (malformed pickle)`);
    const items = stack;
    depth -= items.length;
    stack = marks.pop()!;
    return items;
  };
  const put = (index: number): void => {
    if (!memo.has(index) && memo.size >= MAX_MEMO) fail(`the pickle's memo grows past ${MAX_MEMO} entries`);
    memo.set(index, top("PUT"));
  };
  const get = (index: number): void => {
    const v = memo.get(index);
    if (v === undefined) fail(`GET of memo entry ${index}, which was never PUT (malformed pickle)`);
    push(v!);
  };
  const global = (module: string, name: string): PyGlobal => {
    const key = `${module}.${name}`;
    if (!policy.globals.has(key)) {
      fail(`refuses the global ${key}: a pickle of ${policy.describe} never needs it, and this loader runs nothing from a file`);
    }
    return { kind: "global", module, name };
  };
  const dictOf = (v: PyValue, what: string): PyDict => {
    if (typeof v !== "object" || v === null || v.kind !== "dict") return fail(`${what} on ${describeValue(v)}, not a dict`);
    return v;
  };
  const setItem = (d: PyDict, k: PyValue, v: PyValue): void => {
    if (!isKey(k)) fail(`a dict key is ${describeValue(k)}; only str, int, bool and None keys are read`);
    d.entries.set(k as PyKey, v);
  };
  const readBytes = (n: number, what: string): PyBytes => {
    r.need(n, what);
    const at = r.pos;
    if (n <= INLINE_BYTES) return { kind: "bytes", at, length: n, data: r.bytes(n, what) };
    r.skip(n, what);
    return { kind: "bytes", at, length: n, data: null };
  };
  const readString = (n: number, what: string): string | PyLongString => {
    r.need(n, what);
    if (n > INLINE_STRING) {
      const at = r.pos;
      r.skip(n, what);
      return { kind: "long-str", at, length: n };
    }
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(r.view(n, what));
    } catch {
      return fail(`a str at offset ${r.pos - n} is not valid UTF-8`);
    }
  };
  /** The decimal memo index of a text PUT or GET. */
  const textIndex = (what: string): number => {
    const s = r.line(what);
    if (!/^\d{1,10}$/.test(s)) fail(`${what} with text ${JSON.stringify(s)}`);
    return Number(s);
  };
  const persistent = (pid: PyValue): void => {
    if (policy.persistentLoad === undefined) fail(`holds a persistent id, which a pickle of ${policy.describe} never has`);
    push(policy.persistentLoad!(pid, ctx));
  };

  const first = r.byte();
  if (first !== 0x80) fail(`does not start with a PROTO opcode: not a pickle of protocol 2 or later`);
  const protocol = r.byte();
  if (protocol < 2 || protocol > 5) fail(`pickle protocol ${protocol}; protocols 2 to 5 are read`);

  for (;;) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x80: // PROTO (again)
        fail(`a second PROTO opcode at offset ${at}`);
        break;
      case 0x95: // FRAME
        length(r.view(8, "FRAME").getBigUint64(0, true), fail, "FRAME");
        break;
      case 0x2e: {
        // STOP
        const result = pop("STOP");
        if (stack.length !== 0 || marks.length !== 0) fail(`STOP leaves ${stack.length} values and ${marks.length} MARKs behind (malformed pickle)`);
        if (r.left !== 0) fail(`${r.left} bytes follow the pickle's STOP`);
        checkShape(result, fail);
        return result;
      }
      case 0x28: // MARK
        if (marks.length >= MAX_MARKS) fail(`MARKs nest deeper than ${MAX_MARKS}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length > 0) pop("POP");
        else popMark("POP");
        break;
      case 0x31: // POP_MARK
        popMark("POP_MARK");
        break;
      case 0x32: // DUP
        push(top("DUP"));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(r.view(4, "BININT").getInt32(0, true));
        break;
      case 0x4b: // BININT1
        push(r.byte());
        break;
      case 0x4d: // BININT2
        push(r.view(2, "BININT2").getUint16(0, true));
        break;
      case 0x8a: {
        // LONG1
        const n = r.byte();
        if (n > MAX_LONG_BYTES) fail(`an integer of ${n} bytes (LONG1); the largest read is ${MAX_LONG_BYTES}`);
        push(decodeLong(r.bytes(n, "LONG1")));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = r.view(4, "LONG4").getInt32(0, true);
        if (n < 0 || n > MAX_LONG_BYTES) fail(`an integer of ${n} bytes (LONG4); the largest read is ${MAX_LONG_BYTES}`);
        push(decodeLong(r.bytes(n, "LONG4")));
        break;
      }
      case 0x49: {
        // INT (text; "00" and "01" are False and True)
        const s = r.line("INT");
        if (s === "00" || s === "01") push(s === "01");
        else if (/^[+-]?\d{1,20}$/.test(s)) push(normalizeInt(BigInt(s)));
        else fail(`INT opcode with text ${JSON.stringify(s)}`);
        break;
      }
      case 0x4c: {
        // LONG (text)
        const s = r.line("LONG").replace(/L$/, "");
        if (!/^[+-]?\d{1,40}$/.test(s)) fail(`LONG opcode with text ${JSON.stringify(s)}`);
        push(normalizeInt(BigInt(s)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(r.view(8, "BINFLOAT").getFloat64(0, false));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = r.line("FLOAT");
        const v = Number(s);
        if (s.trim() === "" || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) fail(`FLOAT opcode with text ${JSON.stringify(s)}`);
        push(v);
        break;
      }
      case 0x58: // BINUNICODE
        push(readString(r.view(4, "BINUNICODE").getUint32(0, true), "BINUNICODE"));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(readString(r.byte(), "SHORT_BINUNICODE"));
        break;
      case 0x8d: // BINUNICODE8
        push(readString(length(r.view(8, "BINUNICODE8").getBigUint64(0, true), fail, "BINUNICODE8"), "BINUNICODE8"));
        break;
      case 0x42: // BINBYTES
        push(readBytes(r.view(4, "BINBYTES").getUint32(0, true), "BINBYTES"));
        break;
      case 0x43: // SHORT_BINBYTES
        push(readBytes(r.byte(), "SHORT_BINBYTES"));
        break;
      case 0x8e: // BINBYTES8
        push(readBytes(length(r.view(8, "BINBYTES8").getBigUint64(0, true), fail, "BINBYTES8"), "BINBYTES8"));
        break;
      case 0x96: // BYTEARRAY8
        push(readBytes(length(r.view(8, "BYTEARRAY8").getBigUint64(0, true), fail, "BYTEARRAY8"), "BYTEARRAY8"));
        break;
      case 0x53: // STRING
      case 0x54: // BINSTRING
      case 0x55: // SHORT_BINSTRING
      case 0x56: // UNICODE
        fail(`a Python 2 / protocol 0 string opcode (0x${op.toString(16)}) at offset ${at}; save the checkpoint again with Python 3`);
        break;
      case 0x5d: // EMPTY_LIST
        push({ kind: "list", items: [] });
        break;
      case 0x7d: // EMPTY_DICT
        push({ kind: "dict", entries: new Map(), attrs: null });
        break;
      case 0x29: // EMPTY_TUPLE
        push({ kind: "tuple", items: [] });
        break;
      case 0x8f: // EMPTY_SET
        push({ kind: "set", items: [] });
        break;
      case 0x6c: // LIST
        push({ kind: "list", items: popMark("LIST") });
        break;
      case 0x74: // TUPLE
        push({ kind: "tuple", items: popMark("TUPLE") });
        break;
      case 0x91: // FROZENSET
        push({ kind: "set", items: popMark("FROZENSET") });
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items: PyValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop("TUPLE"));
        push({ kind: "tuple", items });
        break;
      }
      case 0x64: {
        // DICT
        const items = popMark("DICT");
        if (items.length % 2 !== 0) fail(`DICT with an odd number of items`);
        const d: PyDict = { kind: "dict", entries: new Map(), attrs: null };
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop("APPEND");
        const list = top("APPEND");
        if (typeof list !== "object" || list === null || list.kind !== "list") fail(`APPEND to ${describeValue(list)}, not a list`);
        (list as PyList).items.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark("APPENDS");
        const list = top("APPENDS");
        if (typeof list !== "object" || list === null || list.kind !== "list") fail(`APPENDS to ${describeValue(list)}, not a list`);
        for (const v of items) (list as PyList).items.push(v);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark("ADDITEMS");
        const set = top("ADDITEMS");
        if (typeof set !== "object" || set === null || set.kind !== "set") fail(`ADDITEMS to ${describeValue(set)}, not a set`);
        for (const v of items) (set as PySet).items.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop("SETITEM");
        const k = pop("SETITEM");
        setItem(dictOf(top("SETITEM"), "SETITEM"), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark("SETITEMS");
        if (items.length % 2 !== 0) fail(`SETITEMS with an odd number of items`);
        const d = dictOf(top("SETITEMS"), "SETITEMS");
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        break;
      }
      case 0x70: // PUT (text)
        put(textIndex("PUT"));
        break;
      case 0x71: // BINPUT
        put(r.byte());
        break;
      case 0x72: // LONG_BINPUT
        put(r.view(4, "LONG_BINPUT").getUint32(0, true));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x67: // GET (text)
        get(textIndex("GET"));
        break;
      case 0x68: // BINGET
        get(r.byte());
        break;
      case 0x6a: // LONG_BINGET
        get(r.view(4, "LONG_BINGET").getUint32(0, true));
        break;
      case 0x63: {
        // GLOBAL
        const module = r.line("GLOBAL module");
        const name = r.line("GLOBAL name");
        push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop("STACK_GLOBAL");
        const module = pop("STACK_GLOBAL");
        if (typeof module !== "string" || typeof name !== "string") fail(`STACK_GLOBAL with ${describeValue(module)} and ${describeValue(name)}, not two strs`);
        push(global(module as string, name as string));
        break;
      }
      case 0x69: {
        // INST: module and name as text, arguments after a MARK; builds a class instance.
        const module = r.line("INST module");
        const name = r.line("INST name");
        global(module, name);
        fail(`INST of ${module}.${name}: building class instances is not allowed`);
        break;
      }
      case 0x6f: {
        // OBJ: the class and its arguments after a MARK
        const items = popMark("OBJ");
        fail(`OBJ of ${items.length > 0 ? describeValue(items[0]!) : "nothing"}: building class instances is not allowed`);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop("REDUCE");
        const fn = pop("REDUCE");
        if (typeof fn !== "object" || fn === null || fn.kind !== "global") fail(`REDUCE calls ${describeValue(fn)}, not an allowed global`);
        const g = fn as PyGlobal;
        const handler = policy.globals.get(`${g.module}.${g.name}`)!;
        if (handler.call === undefined) fail(`REDUCE calls ${g.module}.${g.name}, which may be named but not called`);
        if (typeof args !== "object" || args === null || args.kind !== "tuple") fail(`REDUCE of ${g.module}.${g.name} with ${describeValue(args)} for arguments, not a tuple`);
        push(handler.call!((args as PyTuple).items, ctx));
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: {
        // NEWOBJ_EX
        if (op === 0x92) pop("NEWOBJ_EX");
        pop("NEWOBJ");
        const cls = pop("NEWOBJ");
        fail(`NEWOBJ of ${describeValue(cls)}: building class instances is not allowed`);
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop("BUILD");
        const obj = pop("BUILD");
        push(policy.build(obj, state, ctx));
        break;
      }
      case 0x51: // BINPERSID
        persistent(pop("BINPERSID"));
        break;
      case 0x50: // PERSID (text)
        persistent(r.line("PERSID"));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail(`an extension-registry opcode (EXT, 0x${op.toString(16)}) at offset ${at}, which names a global indirectly; not allowed`);
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail(`an out-of-band buffer opcode (0x${op.toString(16)}) at offset ${at}; a checkpoint file carries its data in band`);
        break;
      default:
        fail(`unknown pickle opcode 0x${op.toString(16)} at offset ${at}`);
    }
  }
}

/**
 * Checks the finished value: no container holds itself (directly or
 * through others), and nothing nests deeper than MAX_DEPTH. A value shared
 * by several containers is walked once.
 */
function checkShape(root: PyValue, fail: (message: string) => never): void {
  const done = new Set<object>();
  const open = new Set<object>();
  const walk = (v: PyValue, d: number): void => {
    if (typeof v !== "object" || v === null) return;
    if (v.kind !== "list" && v.kind !== "tuple" && v.kind !== "set" && v.kind !== "dict") return;
    if (done.has(v)) return;
    if (open.has(v)) fail(`holds ${describeValue(v)} that contains itself (a recursive structure); a checkpoint never does`);
    if (d > MAX_DEPTH) fail(`nests containers deeper than ${MAX_DEPTH} levels; a checkpoint never does`);
    open.add(v);
    if (v.kind === "dict") {
      for (const x of v.entries.values()) walk(x, d + 1);
      for (const x of v.attrs?.values() ?? []) walk(x, d + 1);
    } else {
      for (const x of v.items) walk(x, d + 1);
    }
    open.delete(v);
    done.add(v);
  };
  walk(root, 0);
}

import * as fs from "node:fs";
import { type DType, dtypeSize } from "./dtype.js";
import { type GlobalHandler, type PickleContext, PickleError, type PicklePolicy, type PyDict, type PyObject, type PyValue, describeValue, unpickle } from "./pickle.js";
import { type OpenedFile, type OpenFile, type StoredTensor, type TensorSource, closeFile, openFile, readFully, sourceFromFile } from "./tensor-source.js";
import { fileStore, viewProblem, viewTensor } from "./tensor-view.js";
import { type ZipEntry, checkZipEntryCrc, readZipDirectory, readZipEntry } from "./zip.js";

/*
 * PyTorch's `torch.save` format (since 1.6, `pytorch_model.bin` and its
 * shards): a zip archive, stored not compressed, whose entries sit under one
 * top folder named after the file when it was written
 * (`pytorch_model/data.pkl`, not always `archive/`):
 *
 *   <top>/data.pkl     the pickled state dict: an OrderedDict of name -> tensor
 *   <top>/data/<key>   each storage's raw bytes, in `byteorder`
 *   <top>/byteorder    "little" (absent in files older than torch 1.10: little)
 *   <top>/version, .format_version, .storage_alignment, .data/serialization_id
 *
 * In data.pkl a tensor is `torch._utils._rebuild_tensor_v2(storage, offset,
 * size, stride, requires_grad, hooks)`, where `storage` is a persistent id
 * ('storage', torch.FloatStorage, key, location, numel) naming
 * `<top>/data/<key>`. Several tensors may view one storage (tied weights
 * share it whole; a slice starts at an offset; a transpose has other
 * strides). data.pkl is read through the allow-list unpickler with exactly
 * the globals that takes; storages are read lazily, a view at a time.
 */

/** torch's typed storage classes and the dtype each holds. */
const STORAGE_DTYPES: ReadonlyMap<string, DType> = new Map([
  ["DoubleStorage", "f64"],
  ["FloatStorage", "f32"],
  ["HalfStorage", "f16"],
  ["BFloat16Storage", "bf16"],
  ["LongStorage", "i64"],
  ["IntStorage", "i32"],
  ["ShortStorage", "i16"],
  ["CharStorage", "i8"],
  ["ByteStorage", "u8"],
  ["BoolStorage", "bool"],
]);

/** One storage of the archive, as a persistent id names it. */
interface StorageRef {
  readonly key: string;
  readonly dtype: DType;
  /** Elements. */
  readonly numel: number;
}

/** What `_rebuild_tensor_v2` describes: a view of a storage. */
interface TensorRecord {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
}

const STORAGE = "torch storage";
const TENSOR = "torch tensor";

function fail(ctx: PickleContext, message: string): never {
  throw new PickleError(`${ctx.where}: ${message}`);
}

function int(v: PyValue, ctx: PickleContext, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(ctx, `${what} must be a non-negative integer, found ${describeValue(v)}`);
  return v as number;
}

function ints(v: PyValue, ctx: PickleContext, what: string): number[] {
  if (typeof v !== "object" || v === null || v.kind !== "tuple") fail(ctx, `${what} must be a tuple of integers, found ${describeValue(v)}`);
  return (v as { items: readonly PyValue[] }).items.map((x, i) => int(x, ctx, `${what}[${i}]`));
}

function isEmptyDict(v: PyValue): boolean {
  return typeof v === "object" && v !== null && v.kind === "dict" && v.entries.size === 0;
}

function record(v: PyValue): TensorRecord | null {
  return typeof v === "object" && v !== null && v.kind === "object" && v.type === TENSOR ? (v.payload as TensorRecord) : null;
}

/** The unpickling policy of data.pkl: the globals a state dict of tensors needs, and torch's storage records. */
function torchPolicy(): PicklePolicy {
  const storages = new Map<string, StorageRef>();
  const globals = new Map<string, GlobalHandler>();
  globals.set("collections.OrderedDict", {
    call: (args, ctx) => {
      if (args.length !== 0) fail(ctx, `collections.OrderedDict is called with ${args.length} arguments; a state dict calls it with none`);
      return { kind: "dict", entries: new Map(), attrs: null };
    },
  });
  globals.set("torch._utils._rebuild_tensor_v2", {
    call: (args, ctx) => {
      if (args.length !== 6 && args.length !== 7) fail(ctx, `torch._utils._rebuild_tensor_v2 takes 6 or 7 arguments, found ${args.length}`);
      const [storage, offset, size, stride, requiresGrad, hooks] = args as PyValue[];
      if (typeof storage !== "object" || storage === null || storage.kind !== "object" || storage.type !== STORAGE) {
        fail(ctx, `torch._utils._rebuild_tensor_v2's storage is ${describeValue(storage!)}, not a storage record`);
      }
      if (typeof requiresGrad !== "boolean") fail(ctx, `torch._utils._rebuild_tensor_v2's requires_grad is ${describeValue(requiresGrad!)}`);
      if (!isEmptyDict(hooks!)) fail(ctx, `a tensor carries backward hooks (${describeValue(hooks!)}), which a checkpoint never has`);
      const rec: TensorRecord = {
        storage: (storage as PyObject).payload as StorageRef,
        offset: int(offset!, ctx, "storage offset"),
        shape: ints(size!, ctx, "size"),
        strides: ints(stride!, ctx, "stride"),
      };
      return { kind: "object", type: TENSOR, payload: rec };
    },
  });
  globals.set("torch._utils._rebuild_parameter", {
    call: (args, ctx) => {
      if (args.length !== 3) fail(ctx, `torch._utils._rebuild_parameter takes 3 arguments, found ${args.length}`);
      const [data, requiresGrad, hooks] = args as PyValue[];
      if (record(data!) === null) fail(ctx, `torch._utils._rebuild_parameter wraps ${describeValue(data!)}, not a tensor`);
      if (typeof requiresGrad !== "boolean" || !isEmptyDict(hooks!)) fail(ctx, `torch._utils._rebuild_parameter with unexpected requires_grad or hooks`);
      return data!;
    },
  });
  // Storage classes are only named, inside persistent ids; calling one is refused.
  for (const name of STORAGE_DTYPES.keys()) globals.set(`torch.${name}`, {});
  globals.set("torch.UntypedStorage", {});
  globals.set("torch.storage.UntypedStorage", {});
  return {
    describe: "a torch state dict",
    globals,
    build: (obj, state, ctx) => {
      // An OrderedDict's instance attributes: a state dict's `_metadata` (module versions).
      if (typeof obj === "object" && obj !== null && obj.kind === "dict" && typeof state === "object" && state !== null && state.kind === "dict") {
        const attrs = new Map<string, PyValue>();
        for (const [k, v] of state.entries) {
          if (typeof k !== "string") fail(ctx, `BUILD gives a dict an attribute named by ${describeValue(k)}`);
          attrs.set(k as string, v);
        }
        (obj as PyDict).attrs = attrs;
        return obj;
      }
      return fail(ctx, `refuses BUILD on ${describeValue(obj)} with ${describeValue(state)}: only a state dict's own attributes may be set`);
    },
    persistentLoad: (pid, ctx) => {
      const items = typeof pid === "object" && pid !== null && pid.kind === "tuple" ? pid.items : null;
      if (items === null || items.length !== 5 || items[0] !== "storage") {
        fail(ctx, `persistent id ${describeValue(pid)} is not a ('storage', type, key, location, numel) record`);
      }
      const [, type, key, location, numel] = items as PyValue[];
      if (typeof type !== "object" || type === null || type.kind !== "global" || !type.module.startsWith("torch")) {
        fail(ctx, `storage record type is ${describeValue(type!)}, not a torch storage class`);
      }
      const dtype = STORAGE_DTYPES.get((type as { name: string }).name) ?? ((type as { name: string }).name === "UntypedStorage" ? "u8" : undefined);
      if (dtype === undefined) fail(ctx, `storage class ${describeValue(type!)} holds no dtype Oar reads`);
      if (typeof key !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(key)) fail(ctx, `storage key ${describeValue(key!)} is not a short name`);
      if (typeof location !== "string") fail(ctx, `storage location is ${describeValue(location!)}, not a str`);
      const ref: StorageRef = { key: key as string, dtype: dtype!, numel: int(numel!, ctx, "storage size") };
      const seen = storages.get(ref.key);
      if (seen !== undefined && (seen.dtype !== ref.dtype || seen.numel !== ref.numel)) {
        fail(ctx, `storage "${ref.key}" is described twice, as ${seen.numel} ${seen.dtype} and as ${ref.numel} ${ref.dtype}`);
      }
      storages.set(ref.key, seen ?? ref);
      return { kind: "object", type: STORAGE, payload: seen ?? ref };
    },
  };
}

/** Why a file that is not a zip is not read: the formats before torch 1.6 say so here. */
function notZip(fd: number, file: string, size: number): never {
  const head = new Uint8Array(Math.min(size, 512));
  readFully(fd, file, head, 0, "first bytes");
  if (head[0] === 0x80 || (head.length > 262 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar")) {
    throw new Error(`${file}: a legacy torch.save file (PyTorch before 1.6, or _use_new_zipfile_serialization=False), which Oar does not read; load it in PyTorch and save it again with torch.save, or convert it to safetensors`);
  }
  throw new Error(`${file}: not a torch.save zip archive (it does not start with a zip entry)`);
}

/**
 * Opens one `torch.save` file: checks the zip directory and data.pkl, and
 * reads each tensor's place in its storage. No tensor data is read.
 */
export function openPytorchFile(file: string): OpenedFile {
  const handle = openFile(file);
  try {
    return readArchive(handle, file);
  } catch (e) {
    closeFile(handle);
    throw e;
  }
}

function readArchive(handle: OpenFile, file: string): OpenedFile {
  const fd = handle.fd!;
  const size = fs.fstatSync(fd).size;
  const magic = new Uint8Array(Math.min(4, size));
  readFully(fd, file, magic, 0, "first bytes");
  if (magic.length < 4 || magic[0] !== 0x50 || magic[1] !== 0x4b || magic[2] !== 0x03 || magic[3] !== 0x04) notZip(fd, file, size);
  const entries = readZipDirectory(fd, file, size);
  const names = [...entries.keys()];
  const top = names.find((n) => n.endsWith("/data.pkl") && n.indexOf("/") === n.length - "/data.pkl".length)?.slice(0, -"/data.pkl".length);
  if (top === undefined) throw new Error(`${file}: the zip has no <folder>/data.pkl: not a torch.save archive`);
  const stray = names.find((n) => !n.startsWith(`${top}/`));
  if (stray !== undefined) throw new Error(`${file}: zip entry "${stray}" lies outside the archive's folder "${top}/"`);
  const byteorder = entries.get(`${top}/byteorder`);
  if (byteorder !== undefined) {
    if (byteorder.size > 16) throw new Error(`${file}: ${top}/byteorder holds ${byteorder.size} bytes; expected "little"`);
    const order = new TextDecoder().decode(readZipEntry(fd, file, byteorder));
    if (order !== "little") {
      throw new Error(`${file}: ${top}/byteorder says ${JSON.stringify(order)}: the tensors are not little-endian, and Oar reads only little-endian checkpoints`);
    }
  }
  const pkl = entries.get(`${top}/data.pkl`)!;
  checkZipEntryCrc(fd, file, pkl);
  const root = unpickle({ fd, file, what: `${top}/data.pkl`, start: pkl.dataOffset, end: pkl.dataOffset + pkl.size }, torchPolicy());
  if (typeof root !== "object" || root === null || root.kind !== "dict") {
    throw new Error(`${file}: ${top}/data.pkl holds ${describeValue(root)}, not a state dict of tensors`);
  }
  const tensors = new Map<string, StoredTensor>();
  for (const [name, value] of root.entries) {
    if (typeof name !== "string") throw new Error(`${file}: the state dict has a key that is ${describeValue(name)}, not a str`);
    const rec = record(value);
    if (rec === null) throw new Error(`${file}: "${name}" in the state dict is ${describeValue(value)}, not a tensor (a state dict of tensors is read, not a training checkpoint)`);
    tensors.set(name, storedTensor(handle, file, top, entries, name, rec));
  }
  return { tensors, metadata: new Map(), handle };
}

function storedTensor(handle: OpenFile, file: string, top: string, entries: ReadonlyMap<string, ZipEntry>, name: string, rec: TensorRecord): StoredTensor {
  const where = `${file}: tensor "${name}"`;
  const entryName = `${top}/data/${rec.storage.key}`;
  const entry = entries.get(entryName);
  if (entry === undefined) throw new Error(`${where}: its storage ${entryName} is not in the archive`);
  const elementSize = dtypeSize(rec.storage.dtype);
  if (entry.size !== rec.storage.numel * elementSize) {
    throw new Error(`${where}: storage ${entryName} holds ${entry.size} bytes, but data.pkl declares ${rec.storage.numel} ${rec.storage.dtype} elements (${rec.storage.numel * elementSize} bytes)`);
  }
  const layout = { offset: rec.offset, shape: rec.shape, strides: rec.strides };
  const problem = viewProblem(layout, rec.storage.numel);
  if (problem !== null) throw new Error(`${where}: ${problem}`);
  const count = rec.shape.reduce((a, b) => a * b, 1);
  const info = {
    name,
    dtype: rec.storage.dtype,
    shape: rec.shape,
    file,
    byteOffset: entry.dataOffset + rec.offset * elementSize,
    byteLength: count * elementSize,
  };
  return viewTensor(info, fileStore(handle, entry.dataOffset, entry.size, `tensor "${name}"`), layout, elementSize);
}

/** Opens one `torch.save` file (a `pytorch_model.bin`) as a TensorSource. */
export function openPytorch(file: string): TensorSource {
  return sourceFromFile(file, "pytorch", openPytorchFile(file));
}

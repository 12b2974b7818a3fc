#!/usr/bin/env python3
"""Writes the checkpoint-format goldens of this folder with the real libraries.

Run from the repository root after `npm ci && npm run build`, in a Python
environment with torch (CPU), numpy, safetensors and transformers (the local
package mirror has them):

    python testing/checkpoint-formats/make_goldens.py

1. Makes three micro checkpoints with the repository's make-tiny-model
   (qwen2 f32 and bf16, llama bf16; seed 0): the safetensors originals. They are
   not committed; the tests make them again (byte-identical, checked by the
   sha256 recorded in expected.json).
2. Writes the same weights in other formats, each with the library that
   defines the format: torch.save (PyTorch's zip) with views into shared
   storages, a non-contiguous tensor and tied weights; paddle.save's layout
   (a pickle of {name: numpy array} plus "StructuredToParameterName@@",
   PaddleNLP's names and [in, out] linear weights, bf16 as uint16) with
   protocols 4 and 2, one file and shards; PaddleNLP's safetensors (U16,
   metadata format "np") through safetensors.numpy. Paddle itself is not
   needed: paddle.save is pickle.dump of that dict.
3. Records in expected.json the sha256 of every stored tensor's row-major
   little-endian bytes as torch/numpy hold them, and the greedy tokens
   transformers computes from the PyTorch golden.
4. Writes the hostile files of hostile/ and checks that Python's own loaders
   run their payloads (a marker file appears) where they carry one, and what
   torch.load(weights_only=True) says of each.
"""

import collections
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAKE_TINY_MODEL = os.path.join(ROOT, "tools", "make-tiny-model", "bin", "make-tiny-model.js")
PADDLE_PREFIX = {"qwen2": "qwen2", "llama": "llama"}
MARKER_ENV = "OAR_PICKLE_MARKER"
PROMPT = [3, 141, 59, 26, 5, 35, 89, 79]
NEW_TOKENS = 12


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tensor_bytes(t):
    """Row-major little-endian bytes of a torch tensor or numpy array."""
    if isinstance(t, torch.Tensor):
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().tobytes()
        return t.numpy().tobytes()
    return np.ascontiguousarray(t).tobytes()


DTYPE_NAMES = {
    torch.float32: "f32",
    torch.bfloat16: "bf16",
    np.dtype("float32"): "f32",
    np.dtype("uint16"): "bf16",  # PaddleNLP's bfloat16
}


def describe(tensors):
    out = {}
    for name, t in sorted(tensors.items()):
        out[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "sha256": sha256(tensor_bytes(t))}
    return out


def make_original(work, arch, dtype):
    out = os.path.join(work, f"{arch}-{dtype}")
    args = ["--arch", arch, "--preset", "micro", "--dtype", dtype, "--seed", "0"]
    subprocess.run(["node", MAKE_TINY_MODEL, *args, "--output_path", out], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        digest = sha256(f.read())
    return out, {"make_tiny_model": args, "model_safetensors_sha256": digest}


def paddle_name(arch, name):
    return PADDLE_PREFIX[arch] + name[len("model"):] if name.startswith("model.") else name


def is_linear(name, shape):
    return len(shape) == 2 and name != "model.embed_tokens.weight"


def paddle_config(original_dir, dtype):
    """PaddleNLP's config.json says the dtype under "dtype" (no torch_dtype)."""
    with open(os.path.join(original_dir, "config.json")) as f:
        config = json.load(f)
    config.pop("torch_dtype", None)
    config["dtype"] = dtype
    return config


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def reset(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def shard_names(names, count):
    """Consecutive runs of `names`, as transformers and PaddleNLP shard a state dict."""
    per = (len(names) + count - 1) // count
    return [names[i * per:(i + 1) * per] for i in range(count)]


# ---------------------------------------------------------------------------
# Goldens: the same weights in each format


def qwen2_pytorch(original, out):
    """torch.save of an OrderedDict with _metadata; q/k/v views into one fused storage, a transposed
    (non-contiguous) down_proj, and lm_head tied to the embedding (one storage)."""
    sd = safetensors.torch.load_file(os.path.join(original, "model.safetensors"))
    state = collections.OrderedDict()
    for name in sorted(sd):
        state[name] = sd[name]
    layers = sorted({n.split(".")[2] for n in sd if n.startswith("model.layers.")})
    for l in layers:
        p = f"model.layers.{l}.self_attn"
        for kind in ("weight", "bias"):
            parts = [sd[f"{p}.{x}_proj.{kind}"] for x in ("q", "k", "v")]
            fused = torch.cat(parts)
            at = 0
            for x, part in zip(("q", "k", "v"), parts):
                state[f"{p}.{x}_proj.{kind}"] = fused[at:at + part.shape[0]]
                at += part.shape[0]
        down = f"model.layers.{l}.mlp.down_proj.weight"
        state[down] = sd[down].t().contiguous().t()
        assert not state[down].is_contiguous()
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    state._metadata = collections.OrderedDict({"": {"version": 1}, "model": {"version": 1}})
    reset(out)
    torch.save(state, os.path.join(out, "pytorch_model.bin"))
    loaded = torch.load(os.path.join(out, "pytorch_model.bin"), weights_only=True)
    for name, t in sd.items():
        assert torch.equal(loaded[name], t), name
    return {"format": "pytorch", "naming": "huggingface", "files": ["pytorch_model.bin"], "tensors": describe(state)}


def write_shards(out, state, file_name, save, index_name):
    """`state` in two shards named by `file_name(k, n)`, each written by `save(part, path)`, and their index."""
    weight_map = {}
    shards = shard_names(sorted(state), 2)
    for i, part in enumerate(shards):
        file = file_name(i + 1, len(shards))
        save({n: state[n] for n in part}, os.path.join(out, file))
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() if isinstance(t, torch.Tensor) else t.nbytes for t in state.values())
    write_json(os.path.join(out, index_name), {"metadata": {"total_size": total}, "weight_map": weight_map})


def llama_pytorch_sharded(original, out):
    """Two torch.save shards of plain dicts and pytorch_model.bin.index.json, as transformers 4.x wrote them."""
    sd = safetensors.torch.load_file(os.path.join(original, "model.safetensors"))
    reset(out)
    write_shards(out, sd, lambda k, n: f"pytorch_model-{k:05d}-of-{n:05d}.bin", torch.save, "pytorch_model.bin.index.json")
    return {"format": "pytorch", "naming": "huggingface", "files": sorted(os.listdir(out)), "tensors": describe(sd)}


def paddle_state(arch, original):
    """The original's weights as PaddleNLP holds them: its names, linear weights [in, out], bf16 as uint16."""
    sd = safetensors.torch.load_file(os.path.join(original, "model.safetensors"))
    state = {}
    for name in sorted(sd):
        t = sd[name]
        if is_linear(name, t.shape):
            t = t.t().contiguous()
        a = t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()
        state[paddle_name(arch, name)] = np.ascontiguousarray(a)
    return state


def paddle_save(state, path, protocol):
    """paddle.save's layout: the arrays plus the table of Paddle's internal parameter names."""
    saved = dict(state)
    saved["StructuredToParameterName@@"] = {name: f"param_{i}" for i, name in enumerate(state)}
    with open(path, "wb") as f:
        pickle.dump(saved, f, protocol=protocol)
    with open(path, "rb") as f:
        back = pickle.load(f)
    for name, a in state.items():
        assert np.array_equal(back[name], a) and back[name].dtype == a.dtype, name


def qwen2_pdparams(original, out):
    """model_state.pdparams, protocol 4, f32; one array saved Fortran-ordered (same values)."""
    state = paddle_state("qwen2", original)
    fortran = "qwen2.layers.1.mlp.up_proj.weight"
    state[fortran] = np.asfortranarray(state[fortran])
    reset(out)
    paddle_save(state, os.path.join(out, "model_state.pdparams"), protocol=4)
    write_json(os.path.join(out, "config.json"), paddle_config(original, "float32"))
    return {"format": "pdparams", "naming": "paddlenlp", "files": ["config.json", "model_state.pdparams"], "tensors": describe(state)}


def llama_pdparams_sharded(original, out):
    """Two protocol-2 shards of bf16 as uint16, model_state.pdparams.index.json, config.json "dtype": "bfloat16"."""
    state = paddle_state("llama", original)
    reset(out)
    save = lambda part, path: paddle_save(part, path, protocol=2)  # noqa: E731
    write_shards(out, state, lambda k, n: f"model_state-{k:05d}-of-{n:05d}.pdparams", save, "model_state.pdparams.index.json")
    write_json(os.path.join(out, "config.json"), paddle_config(original, "bfloat16"))
    return {"format": "pdparams", "naming": "paddlenlp", "files": sorted(os.listdir(out)), "tensors": describe(state)}


def qwen2_paddle_safetensors(original, out):
    """PaddleNLP's safetensors: two shards of U16 (bf16) arrays, metadata format "np", model.safetensors.index.json."""
    state = paddle_state("qwen2", original)
    reset(out)
    save = lambda part, path: safetensors.numpy.save_file(part, path, metadata={"format": "np"})  # noqa: E731
    write_shards(out, state, lambda k, n: f"model-{k:05d}-of-{n:05d}.safetensors", save, "model.safetensors.index.json")
    write_json(os.path.join(out, "config.json"), paddle_config(original, "bfloat16"))
    return {"format": "safetensors", "naming": "paddlenlp", "files": sorted(os.listdir(out)), "tensors": describe(state)}


def transformers_greedy(original, golden):
    """Greedy tokens transformers computes from the golden's weights (loaded by transformers from that format)."""
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as d:
        for f in ("config.json", "generation_config.json"):
            shutil.copy(os.path.join(original, f), d)
        for f in os.listdir(golden):
            shutil.copy(os.path.join(golden, f), d)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        model.eval()
        model.generation_config.eos_token_id = None
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        return out[0, len(PROMPT):].tolist()


# ---------------------------------------------------------------------------
# Hostile files


PAYLOAD_SHELL = f'touch "${{{MARKER_ENV}:-oar-pickle-marker}}"'
PAYLOAD_PYTHON = f"import os; open(os.environ.get('{MARKER_ENV}', 'oar-pickle-marker'), 'w').write('ran')"


class RunsShell:
    """Pickles as os.system(PAYLOAD_SHELL): what `torch.load` of a malicious checkpoint runs."""

    def __reduce__(self):
        return (os.system, (PAYLOAD_SHELL,))


class RunsExec:
    def __reduce__(self):
        import builtins

        return (builtins.exec, (PAYLOAD_PYTHON,))


class Storage:
    """A storage record as torch's persistent_id writes it."""

    def __init__(self, key, kind, numel):
        self.key, self.kind, self.numel = key, kind, numel


class TensorRecord:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()), as torch.save does."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.numel)
        return None


def torch_pickle(obj):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def zip_bytes(entries, sizes=None):
    """A stored zip archive of (name, bytes) built by hand, so any field can be set; `sizes` overrides
    declared sizes by entry name with a zip64 extra field (the 32-bit fields become 0xFFFFFFFF)."""
    sizes = sizes or {}
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        raw = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(raw), 0) + raw + data
        declared = sizes.get(name)
        if declared is None:
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(raw), 0, 0, 0, 0, 0, offset) + raw
        else:
            extra = struct.pack("<HHQQ", 0x0001, 16, declared, declared)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw), len(extra), 0, 0, 0, 0, offset) + raw + extra
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
    return bytes(out)


def torch_zip(path, pkl, storages, byteorder=b"little", sizes=None):
    top = os.path.splitext(os.path.basename(path))[0]
    entries = [(f"{top}/data.pkl", pkl), (f"{top}/byteorder", byteorder)]
    entries += [(f"{top}/data/{k}", v) for k, v in storages]
    entries += [(f"{top}/version", b"3\n")]
    with open(path, "wb") as f:
        f.write(zip_bytes(entries, sizes))


def write_hostile(out):
    reset(out)
    made = []

    def record(file, kind, what):
        made.append({"file": file, "kind": kind, "what": what})
        return os.path.join(out, file)

    # Code execution: the payload creates the marker file when Python loads the file.
    torch.save({"model.embed_tokens.weight": RunsShell()}, record("reduce-os-system.bin", "code execution", "torch.save of an object whose __reduce__ is os.system(...): GLOBAL posix.system + REDUCE"))
    with open(record("exec-builtins.pdparams", "code execution", "a protocol-4 pickle whose value reduces to builtins.exec(<python source>): STACK_GLOBAL builtins.exec"), "wb") as f:
        pickle.dump({"qwen2.embed_tokens.weight": RunsExec()}, f, protocol=4)
    inst = (
        b"\x80\x02}X\x19\x00\x00\x00qwen2.embed_tokens.weight("
        + b"]("
        + b"".join(b"X" + struct.pack("<I", len(s)) + s for s in (b"sh", b"-c", PAYLOAD_SHELL.encode()))
        + b"ei"
        + b"subprocess\nPopen\n"
        + b"s."
    )
    with open(record("inst-subprocess.pdparams", "code execution", "a protocol-2 pickle with INST subprocess.Popen(['sh', '-c', ...]) (builds a class instance)"), "wb") as f:
        f.write(inst)

    # BUILD with slot state on a class: would set attributes on torch.FloatStorage for the rest of the process.
    pkl = bytearray(torch_pickle(collections.OrderedDict()))
    assert pkl[-1:] == b"."
    pkl[-1:] = b"ctorch\nFloatStorage\n" + b"N}X\x0a\x00\x00\x00__module__X\x05\x00\x00\x00pwneds\x86b0."
    torch_zip(record("build-on-class.bin", "object mutation", "BUILD with slot state on the class torch.FloatStorage (setattr on a class)"), bytes(pkl), [])

    # Bounds.
    s = Storage("0", "FloatStorage", 4)
    torch_zip(
        record("storage-offset-past-end.bin", "bounds", "a tensor viewing elements [1000, 1004) of a 4-element storage"),
        torch_pickle(collections.OrderedDict({"w": TensorRecord(s, 1000, (4,), (1,))})),
        [("0", struct.pack("<4f", 1, 2, 3, 4))],
    )
    good = io.BytesIO()
    torch.save({"w": torch.arange(64, dtype=torch.float32)}, good)
    data = good.getvalue()
    with open(record("truncated.bin", "bounds", "a real torch.save file cut to 60% of its bytes (no end of central directory)"), "wb") as f:
        f.write(data[: len(data) * 6 // 10])
    s = Storage("0", "FloatStorage", 1 << 38)
    torch_zip(
        record("declared-size-1tib.bin", "bounds", "a zip64 entry declaring 1 TiB (a storage of 2^38 floats) in a file of a few hundred bytes"),
        torch_pickle(collections.OrderedDict({"w": TensorRecord(s, 0, (1 << 38,), (1,))})),
        [("0", b"\0" * 16)],
        sizes={"declared-size-1tib/data/0": 1 << 40},
    )
    bomb = record("deflate-bomb.bin", "bounds", "a storage entry deflated: 64 MiB of zeros in about 64 KB (torch.save never compresses)")
    with zipfile.ZipFile(bomb, "w") as z:
        s = Storage("0", "FloatStorage", 1 << 24)
        z.writestr("deflate-bomb/data.pkl", torch_pickle(collections.OrderedDict({"w": TensorRecord(s, 0, (1 << 24,), (1,))})), compress_type=zipfile.ZIP_STORED)
        z.writestr("deflate-bomb/byteorder", b"little", compress_type=zipfile.ZIP_STORED)
        z.writestr("deflate-bomb/data/0", b"\0" * (1 << 26), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)

    # Structure.
    loop = []
    loop.append(loop)
    with open(record("recursive.pdparams", "structure", "a list that contains itself"), "wb") as f:
        pickle.dump({"qwen2.embed_tokens.weight": loop}, f, protocol=4)
    # Written by hand: Python's pickler recurses once a level and cannot write it, but its loader reads it.
    key = b"qwen2.embed_tokens.weight"
    with open(record("deep-nesting.pdparams", "structure", "lists nested 10,000 deep (10,000 EMPTY_LIST, then APPENDs)"), "wb") as f:
        f.write(b"\x80\x04}X" + struct.pack("<I", len(key)) + key + b"]" * 10000 + b"a" * 9999 + b"s.")

    # Byte order and legacy format.
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        items = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    items = [(f"byteorder-big/{n.split('/', 1)[1]}", b"big" if n.endswith("/byteorder") else d) for n, d in items]
    with open(record("byteorder-big.bin", "byte order", "a torch zip whose byteorder record says big"), "wb") as f:
        f.write(zip_bytes(items))
    torch.save({"w": torch.zeros(4)}, record("legacy-format.bin", "format", "torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 format"), _use_new_zipfile_serialization=False)
    return made


def check_hostile(out, made):
    """Whether Python's loaders run each payload (marker appears), and what torch.load(weights_only=True) does."""
    for h in made:
        path = os.path.join(out, h["file"])
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "marker")
            loader = "torch.load(p, weights_only=False)" if path.endswith(".bin") else "pickle.load(open(p, 'rb'))"
            code = f"import pickle, time, torch; p = {path!r}\ntry:\n  {loader}\nexcept Exception:\n  pass\ntime.sleep(0.5)"
            subprocess.run([sys.executable, "-c", code], env={**os.environ, MARKER_ENV: marker}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            h["python_runs_payload"] = os.path.exists(marker)
        if path.endswith(".bin"):
            try:
                torch.load(path, weights_only=True)
                h["torch_weights_only"] = "loaded"
            except Exception as e:  # noqa: BLE001 - any refusal is the answer
                h["torch_weights_only"] = f"refused: {type(e).__name__}"
        if h["kind"] == "code execution":
            assert h["python_runs_payload"], h
    return made


def main():
    out = {"originals": {}, "goldens": {}, "transformers_greedy": {}, "hostile": []}
    with tempfile.TemporaryDirectory() as work:
        originals = {}
        for arch, dtype in (("qwen2", "f32"), ("qwen2", "bf16"), ("llama", "bf16")):
            path, info = make_original(work, arch, dtype)
            originals[f"{arch}-{dtype}"] = path
            out["originals"][f"{arch}-{dtype}"] = info
        goldens = [
            ("qwen2-pytorch", "qwen2-f32", qwen2_pytorch),
            ("llama-pytorch-sharded", "llama-bf16", llama_pytorch_sharded),
            ("qwen2-pdparams", "qwen2-f32", qwen2_pdparams),
            ("llama-pdparams-sharded", "llama-bf16", llama_pdparams_sharded),
            ("qwen2-paddle-safetensors", "qwen2-bf16", qwen2_paddle_safetensors),
        ]
        for name, original, make in goldens:
            record = make(originals[original], os.path.join(HERE, name))
            out["goldens"][name] = {"original": original, **record}
        out["transformers_greedy"]["qwen2-pytorch"] = {
            "prompt": PROMPT,
            "tokens": transformers_greedy(originals["qwen2-f32"], os.path.join(HERE, "qwen2-pytorch")),
        }
    hostile = os.path.join(HERE, "hostile")
    out["hostile"] = check_hostile(hostile, write_hostile(hostile))
    import transformers

    out["versions"] = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
    }
    write_json(os.path.join(HERE, "expected.json"), out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reference for the Rust Llama runtime (host/tests/llama_real.rs).

Reads testdata/SmolLM2-135M-Instruct.Q4_1.gguf with PyPI `gguf` (its own
dequantizers), runs a plain numpy float64 forward pass written from the Llama
definition (RMSNorm, interleaved-pair RoPE as GGUF q/k expect, GQA, SwiGLU,
tied head), and writes host/tests/fixtures/smollm2_logits.json: the token
ids, and at every position the logits of a fixed set of vocabulary ids plus
the argmax. It also tokenizes a few strings with PyPI `tokenizers` (built
here from the GGUF vocabulary and merges through the Python API) into
host/tests/fixtures/smollm2_tokens.json.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy gguf tokenizers
    /tmp/ref/bin/python scripts/reference/smollm2_reference.py
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "testdata", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "host", "tests", "fixtures")

# Token ids of the prompt (fixed here, not produced by any tokenizer under test):
# "The quick brown fox jumps over the lazy dog. Alice was beginning to"
PROMPT = "The quick brown fox jumps over the lazy dog. Alice was beginning to"
# Vocabulary ids whose logits are stored at every position.
PROBE_IDS = [0, 1, 2, 17, 100, 255, 256, 1000, 2000, 3000, 4321, 5000, 8000,
             12345, 16000, 20000, 25000, 30000, 33333, 40000, 45000, 49151]
TOKENIZER_CASES = [
    "Hello, world!",
    "The year 2024 has 366 days.",
    "  Alice was beginning to get very tired\r\nof sitting by her sister",
    "<|im_start|>user\nWhat is 12*34?<|im_end|>\n",
    "naïve café — “quotes” 日本語 🙂",
]


def field(r, key):
    return r.fields[key].contents()


def main():
    r = GGUFReader(MODEL)
    t = {x.name: x for x in r.tensors}

    def w(name):
        x = t[name]
        a = dequantize(x.data, x.tensor_type).astype(np.float64)
        shape = tuple(int(d) for d in reversed(x.shape))  # GGUF dims innermost first
        return a.reshape(shape)

    dim = int(field(r, "llama.embedding_length"))
    n_layers = int(field(r, "llama.block_count"))
    n_heads = int(field(r, "llama.attention.head_count"))
    n_kv = int(field(r, "llama.attention.head_count_kv"))
    eps = float(field(r, "llama.attention.layer_norm_rms_epsilon"))
    theta = float(field(r, "llama.rope.freq_base"))
    hd = dim // n_heads

    # Tokenizer (Python API, built from the GGUF vocabulary and merges).
    from tokenizers import Tokenizer, pre_tokenizers, decoders, AddedToken
    from tokenizers.models import BPE
    toks = field(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    types = field(r, "tokenizer.ggml.token_type")
    tk = Tokenizer(BPE({s: i for i, s in enumerate(toks)}, merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(toks[i], special=True, normalized=False)
                           for i, ty in enumerate(types) if ty == 3])
    cases = [{"text": s, "ids": tk.encode(s, add_special_tokens=False).ids}
             for s in TOKENIZER_CASES]
    ids = tk.encode(PROMPT, add_special_tokens=False).ids

    emb = w("token_embd.weight")  # (vocab, dim)
    n = len(ids)
    x = emb[ids]  # (n, dim)

    def rmsnorm(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * g

    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)  # (hd/2,)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]   # (n, hd/2)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(v, heads):  # v (n, heads*hd); adjacent pairs (2i, 2i+1)
        v = v.reshape(n, heads, hd // 2, 2)
        a, b = v[..., 0], v[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.stack([a * c - b * s, a * s + b * c], -1).reshape(n, heads * hd)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(n_layers):
        p = f"blk.{i}."
        h = rmsnorm(x, w(p + "attn_norm.weight"))
        q = rope(h @ w(p + "attn_q.weight").T, n_heads).reshape(n, n_heads, hd)
        k = rope(h @ w(p + "attn_k.weight").T, n_kv).reshape(n, n_kv, hd)
        v = (h @ w(p + "attn_v.weight").T).reshape(n, n_kv, hd)
        out = np.zeros((n, n_heads, hd))
        for hh in range(n_heads):
            kv = hh // (n_heads // n_kv)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out[:, hh] = s @ v[:, kv]
        x = x + out.reshape(n, dim) @ w(p + "attn_output.weight").T
        h = rmsnorm(x, w(p + "ffn_norm.weight"))
        g = h @ w(p + "ffn_gate.weight").T
        u = h @ w(p + "ffn_up.weight").T
        x = x + (g / (1 + np.exp(-g)) * u) @ w(p + "ffn_down.weight").T
    logits = rmsnorm(x, w("output_norm.weight")) @ emb.T  # tied head

    fixture = {
        "model": os.path.basename(MODEL),
        "prompt": PROMPT,
        "ids": ids,
        "probe_ids": PROBE_IDS,
        "probe_logits": [[float(logits[j, v]) for v in PROBE_IDS] for j in range(n)],
        "argmax": [int(logits[j].argmax()) for j in range(n)],
        "max_logit": [float(logits[j].max()) for j in range(n)],
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "smollm2_logits.json"), "w") as f:
        json.dump(fixture, f, indent=1)
    with open(os.path.join(OUT, "smollm2_tokens.json"), "w") as f:
        json.dump({"model": os.path.basename(MODEL), "cases": cases}, f, indent=1)
    print(f"{n} tokens, argmax {fixture['argmax']}", file=sys.stderr)


if __name__ == "__main__":
    main()

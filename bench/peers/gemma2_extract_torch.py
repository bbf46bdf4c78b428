"""PyTorch peer of bench/extract_paper_shapes.ts: the same Gemma-2 forward pass (DESIGN §5,
as transformers' modeling_gemma2.py computes it in float32 on the CPU), on the same checkpoint
and token ids, to the same layer. Weights are loaded as float32, as transformers loads them.
Prints one JSON object: tokens/s over the timed batches, peak RSS, load time. Writes the first
batch's residual (float32, [batch, time, hidden]) for a numerical comparison.

    python3 gemma2_extract_torch.py MODEL_DIR TOKENS.bin RESIDUAL_OUT.bin --layer 19 --batch 8
"""
import argparse
import json
import math
import os
import resource
import struct
import time

import numpy as np
import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_checkpoint(directory, wanted):
    """HF-named float32 tensors of the checkpoint whose names `wanted` accepts."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        with open(os.path.join(directory, shard), "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
            start = 8 + length
            for name, info in header.items():
                if name == "__metadata__" or not wanted(name):
                    continue
                begin, end = info["data_offsets"]
                f.seek(start + begin)
                raw = bytearray(f.read(end - begin))
                tensor = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]])
                tensors[name] = tensor.reshape(info["shape"]).float()
    return tensors


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + weight)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def soft_cap(x, cap):
    return x if cap is None else cap * torch.tanh(x / cap)


def forward_to_layer(weights, config, ids, layer):
    batch, time_ = ids.shape
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim, eps = config["head_dim"], config["rms_norm_eps"]
    x = weights["model.embed_tokens.weight"][ids] * math.sqrt(config["hidden_size"])
    inv = 1.0 / (config["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(time_).float(), inv)
    angles = torch.cat((angles, angles), dim=-1)
    cos, sin = angles.cos(), angles.sin()
    causal = torch.full((time_, time_), float("-inf")).triu(1)
    for i in range(layer + 1):
        w = lambda n: weights[f"model.layers.{i}.{n}.weight"]
        window = config["sliding_window"] if i % 2 == 0 else None
        mask = causal.clone()
        if window is not None:
            mask = mask + torch.full((time_, time_), float("-inf")).tril(-window)
        h = rms_norm(x, w("input_layernorm"), eps)
        q = (h @ w("self_attn.q_proj").T).view(batch, time_, heads, head_dim).transpose(1, 2)
        k = (h @ w("self_attn.k_proj").T).view(batch, time_, kv_heads, head_dim).transpose(1, 2)
        v = (h @ w("self_attn.v_proj").T).view(batch, time_, kv_heads, head_dim).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
        scores = (q * config["query_pre_attn_scalar"] ** -0.5) @ k.transpose(-1, -2)
        scores = soft_cap(scores, config["attn_logit_softcapping"]) + mask
        mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, time_, heads * head_dim)
        x = x + rms_norm(mixed @ w("self_attn.o_proj").T, w("post_attention_layernorm"), eps)
        h = rms_norm(x, w("pre_feedforward_layernorm"), eps)
        gate = torch.nn.functional.gelu(h @ w("mlp.gate_proj").T, approximate="tanh")
        fed = (gate * (h @ w("mlp.up_proj").T)) @ w("mlp.down_proj").T
        x = x + rms_norm(fed, w("post_feedforward_layernorm"), eps)
    return x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("tokens")
    parser.add_argument("residual_out")
    parser.add_argument("--layer", type=int, default=19)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--time", type=int, default=128)
    args = parser.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    started = time.perf_counter()

    def wanted(name):
        if not name.startswith("model.layers."):
            return name == "model.embed_tokens.weight"
        return int(name.split(".")[2]) <= args.layer

    weights = read_checkpoint(args.model, wanted)
    load_seconds = time.perf_counter() - started
    ids = torch.from_numpy(np.fromfile(args.tokens, dtype=np.int32).astype(np.int64))
    ids = ids.view(-1, args.batch, args.time)
    timed, tokens = 0.0, 0
    with torch.no_grad():
        for b in range(ids.shape[0]):
            t = time.perf_counter()
            residual = forward_to_layer(weights, config, ids[b], args.layer)
            seconds = time.perf_counter() - t
            if b == 0:
                residual.numpy().astype(np.float32).tofile(args.residual_out)
            else:
                timed, tokens = timed + seconds, tokens + ids[b].numel()
    print(json.dumps({
        "tokens_per_s": tokens / timed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_seconds": load_seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()

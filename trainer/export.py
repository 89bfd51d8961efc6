"""Export a checkpoint as a Hugging Face model folder: safetensors, config.json, tokenizer.

The model's module names already follow Llama's, so the weights only gain the `model.`
prefix. Without QK-norm the folder is a `LlamaForCausalLM`; with it, a `Qwen3ForCausalLM`
(Qwen3 is Llama plus per-head RMSNorm on queries and keys, applied before RoPE, as here).
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from trainer.checkpoint import load_model, read_args
from trainer.model_args import ModelArgs
from trainer.storage import Location, copy_file, location

SPECIAL_TOKENS = {"pad_token": "<|pad|>", "bos_token": "<|bos|>", "eos_token": "<|eos|>"}


def hf_config(args: ModelArgs) -> dict:
    config = {
        "architectures": ["Qwen3ForCausalLM" if args.qk_norm else "LlamaForCausalLM"],
        "model_type": "qwen3" if args.qk_norm else "llama",
        "vocab_size": args.vocab_size,
        "hidden_size": args.dim,
        "intermediate_size": args.ffn_dim,
        "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads,
        "num_key_value_heads": args.n_kv_heads,
        "head_dim": args.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_seq_len,
        "rms_norm_eps": args.norm_eps,
        "rope_theta": args.rope_base,
        "rope_parameters": {"rope_type": "default", "rope_theta": args.rope_base},
        "tie_word_embeddings": args.tied_embeddings,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    if args.qk_norm:
        config |= {"use_sliding_window": False, "max_window_layers": args.n_layers}
    else:
        config["mlp_bias"] = False
    return config


def export_hf(checkpoint: str | Location, out: Path) -> Path:
    checkpoint = location(checkpoint)
    args = read_args(checkpoint)
    model = load_model(checkpoint)
    weights = {
        (name if name == "lm_head.weight" else f"model.{name}"): tensor.contiguous()
        for name, tensor in model.state_dict().items()
    }
    if args.tied_embeddings:
        del weights["lm_head.weight"]
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(args), indent=2))
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    copy_file(checkpoint / "tokenizer.json", out / "tokenizer.json")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": args.max_seq_len,
        **SPECIAL_TOKENS,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2))
    return out

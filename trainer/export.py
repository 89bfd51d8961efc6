"""Export a checkpoint as a Hugging Face model folder: safetensors, config.json, tokenizer.

The model's module names already follow Llama's, so the weights only gain the `model.`
prefix. Without QK-norm the folder is a `LlamaForCausalLM`; with it, a `Qwen3ForCausalLM`
(Qwen3 is Llama plus per-head RMSNorm on queries and keys, applied before RoPE, as here).
A reward model (a `score` head) is a `…ForSequenceClassification`, which reads the score at
the last non-pad token, as `trainer.objectives.Reward` does. A LoRA checkpoint is exported
with its adapters merged (`load_model`).

The exported tokenizer adds `<|bos|>` as training saw it (a post-processor on this copy
only: the pipeline's token shards are framed already), and `tokenizer_config.json` carries
the chat template (`trainer.chat`), so `apply_chat_template` gives the ids training used.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, processors
from torch import nn

from trainer import chat
from trainer.checkpoint import load_model, read_args
from trainer.model_args import ModelArgs
from trainer.storage import Location, location

SPECIAL_TOKENS = {"pad_token": "<|pad|>", "bos_token": "<|bos|>", "eos_token": "<|eos|>"}


def hf_config(args: ModelArgs) -> dict:
    family = "Qwen3" if args.qk_norm else "Llama"
    head = "ForSequenceClassification" if args.num_labels else "ForCausalLM"
    config = {
        "architectures": [family + head],
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
    if args.num_labels:
        labels = {str(i): f"LABEL_{i}" for i in range(args.num_labels)}
        config |= {"id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}
    if args.qk_norm:
        config |= {"use_sliding_window": False, "max_window_layers": args.n_layers}
    else:
        config["mlp_bias"] = False
    return config


def hf_weights(model: nn.Module, args: ModelArgs) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face's names (`model.` before all but the heads)."""
    heads = ("lm_head.weight", "score.weight")
    weights = {
        (name if name in heads else f"model.{name}"): tensor.contiguous()
        for name, tensor in model.state_dict().items()
    }
    if args.tied_embeddings or args.num_labels:
        del weights["lm_head.weight"]
    return weights


def with_bos(tokenizer_json: str) -> str:
    """The tokenizer with a post-processor that puts `<|bos|>` before each encoded text."""
    tokenizer = Tokenizer.from_str(tokenizer_json)
    bos = chat.SPECIAL_TOKENS[chat.BOS_ID]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, chat.BOS_ID)]
    )
    return tokenizer.to_str()


def export_hf(checkpoint: str | Location, out: Path) -> Path:
    checkpoint = location(checkpoint)
    args = read_args(checkpoint)
    weights = hf_weights(load_model(checkpoint), args)
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)  # safetensors writes 0600; the rest is 0644
    (out / "config.json").write_text(json.dumps(hf_config(args), indent=2), encoding="utf-8")
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2), encoding="utf-8")
    (out / "tokenizer.json").write_text(
        with_bos((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))
    )
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": args.max_seq_len,
        "chat_template": chat.CHAT_TEMPLATE,
        **SPECIAL_TOKENS,
    }
    (out / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config, indent=2), encoding="utf-8"
    )
    (out / "special_tokens_map.json").write_text(
        json.dumps(SPECIAL_TOKENS, indent=2), encoding="utf-8"
    )
    return out

"""Read a Hugging Face Llama or Qwen3 folder (safetensors, config.json) as our model: the
inverse of `trainer.export`. Module names are Llama's, so the weights only lose `model.`."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load, load_file

from trainer.errors import TrainingError
from trainer.model import Transformer
from trainer.model_args import ModelArgs
from trainer.storage import Location, read_json_object


class HFImportError(TrainingError):
    """A folder that is not a Llama or Qwen3 model this trainer can hold."""


def is_hf_folder(path: Location) -> bool:
    return (path / "config.json").is_file() and not (path / "meta.json").is_file()


def _hf_args(config: dict) -> ModelArgs:
    kind = config.get("model_type")
    if kind not in ("llama", "qwen3"):
        raise HFImportError(f"model_type {kind!r}; only llama and qwen3 are read")
    _refuse_other_layers(config)
    heads = config["num_attention_heads"]
    if config.get("head_dim", config["hidden_size"] // heads) * heads != config["hidden_size"]:
        raise HFImportError("head_dim × num_attention_heads must equal hidden_size")
    rope = config.get("rope_parameters") or {}
    return ModelArgs(
        vocab_size=config["vocab_size"],
        dim=config["hidden_size"],
        n_layers=config["num_hidden_layers"],
        n_heads=heads,
        n_kv_heads=config.get("num_key_value_heads", heads),
        ffn_dim=config["intermediate_size"],
        rope_base=rope.get("rope_theta", config.get("rope_theta", 10_000.0)),
        norm_eps=config["rms_norm_eps"],
        qk_norm=kind == "qwen3",
        tied_embeddings=config.get("tie_word_embeddings", False),
        max_seq_len=config["max_position_embeddings"],
    )


def _refuse_other_layers(config: dict) -> None:
    """Settings our layers do not have. Read past, they would load and give other logits
    (a scaled rotary embedding, GELU, a sliding window); biases would not even load."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}  # transformers 5, 4
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise HFImportError(f"rope_type {rope_type!r}; only the default rotary embedding is read")
    if config.get("hidden_act", "silu") not in ("silu", "swish"):
        raise HFImportError(f"hidden_act {config['hidden_act']!r}; only silu is read")
    for key, ours in (
        ("attention_bias", "attention has no biases"),
        ("mlp_bias", "feed-forward has no biases"),
        ("use_sliding_window", "attention covers the whole sequence"),
    ):
        if config.get(key):
            raise HFImportError(f"{key} is true, and our {ours}")
    if set(config.get("layer_types") or ["full_attention"]) != {"full_attention"}:
        raise HFImportError("layer_types other than full_attention are not read")


def read_hf_args(folder: Location) -> ModelArgs:
    """ModelArgs of the folder's Llama or Qwen3 config.json; HFImportError naming the file and
    the key where it cannot give them."""
    config_file = folder / "config.json"
    try:
        return _hf_args(read_json_object(config_file))
    except (OSError, ValueError, HFImportError) as err:
        raise HFImportError(f"{config_file}: {err}") from None
    except KeyError as err:
        raise HFImportError(f"{config_file}: no `{err.args[0]}`") from None


def load_hf_model(folder: Location) -> Transformer:
    """The folder's model on CPU in fp32; HFImportError naming the file that cannot give it."""
    args, weights_file = read_hf_args(folder), folder / "model.safetensors"
    if not weights_file.is_file():  # a sharded model's model-*-of-*.safetensors are not read
        raise HFImportError(f"{weights_file}: missing (one safetensors file is read)")
    try:
        if isinstance(weights_file, Path):
            weights = load_file(weights_file)
        else:  # safetensors opens local files only
            weights = load(weights_file.read_bytes())
    except Exception as err:  # safetensors raises its own error type, or OSError
        raise HFImportError(f"{weights_file}: {err}") from None
    state = {name.removeprefix("model."): tensor.float() for name, tensor in weights.items()}
    if args.tied_embeddings and "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model = Transformer(args)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # a heading, then a line per missing or misshapen tensor
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise HFImportError(f"{weights_file}: does not fit config.json ({lines[-1]})") from None
    return model.eval()

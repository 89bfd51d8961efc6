"""Where a post-training run starts: a tokenmill checkpoint or a Hugging Face Llama/Qwen3
folder (safetensors, config.json, tokenizer.json). Only the model's weights are taken: no
optimizer, loader or step, so fine-tuning starts afresh from them.

The tokenizer must have tokenmill's special tokens at ids 0-6 (a tokenmill run's, or an
exported model's): the chat template is built on them.
"""

from __future__ import annotations

from tokenizers import Tokenizer
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

from trainer.chat import SPECIAL_TOKENS
from trainer.checkpoint import latest_checkpoint_in, load_model, read_args
from trainer.config import TrainConfig
from trainer.errors import TrainingError
from trainer.hf_import import is_hf_folder, read_hf_args
from trainer.model_args import ModelArgs
from trainer.storage import Location, location


class StartError(TrainingError):
    """`init_from` is neither a tokenmill checkpoint nor a Hugging Face model we can read."""


def start_args(config: TrainConfig, tokenizer: Location) -> ModelArgs:
    """The shape of the model `init_from` names, checked against the run: an id of its
    `tokenizer` past the start's embedding, or a position of `data.seq_len` past its rotary
    tables, would index nothing (an IndexError mid-run, on a GPU a device-side assert)."""
    path = config.init_from
    folder = location(path)
    args = read_hf_args(folder) if is_hf_folder(folder) else read_args(folder)
    tokens = Tokenizer.from_str(tokenizer.read_text(encoding="utf-8")).get_vocab_size()
    if tokens > args.vocab_size:
        raise StartError(
            f"init_from: {path} embeds {args.vocab_size} token ids, and the tokenizer "
            f"{tokenizer} has {tokens}; start from a model of that tokenizer"
        )
    if config.data.seq_len > args.max_seq_len:
        raise StartError(
            f"data.seq_len: {config.data.seq_len} is more than the max_seq_len "
            f"{args.max_seq_len} of init_from {path}"
        )
    return args


def start_tokenizer(path: str) -> Location:
    """The starting model's tokenizer.json, checked for tokenmill's special ids."""
    file = location(path) / "tokenizer.json"
    if not file.is_file():
        latest = latest_checkpoint_in(location(path))
        raise StartError(
            f"{file}: not found (init_from)" + (f"; did you mean {latest}?" if latest else "")
        )
    tokenizer = Tokenizer.from_str(file.read_text(encoding="utf-8"))
    wrong = [t for i, t in enumerate(SPECIAL_TOKENS) if tokenizer.token_to_id(t) != i]
    if wrong:
        raise StartError(f"{file}: {', '.join(wrong)} not at tokenmill's special ids 0-6")
    return file


def load_start(model: nn.Module, path: str) -> None:
    """Load the starting weights into `model` (sharded or not); parameters it has and the start
    lacks must be new ones (adapters, a score head), kept as initialised."""
    state = load_model(path).state_dict()
    names = set(model.state_dict())
    unknown = sorted(set(state) - names)
    missing = sorted(
        n for n in names - set(state) if "lora_" not in n and not n.startswith("score.")
    )
    if unknown or missing:
        raise StartError(
            f"init_from {path}: weights differ: unknown {unknown[:3]}, missing {missing[:3]}"
        )
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))

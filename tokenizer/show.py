"""`tokenmill tokenizer show`: how a text splits into tokens."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from tokenizers import Tokenizer


def show_tokens(tokenizer: Tokenizer, text: str, console: Console) -> None:
    encoding = tokenizer.encode(text, add_special_tokens=False)
    table = Table(title=f"{text!r}: {len(encoding.ids)} tokens", title_justify="left")
    for column in ("#", "id", "token", "text"):
        table.add_column(column, justify="right" if column in ("#", "id") else "left")
    for position, (token_id, token) in enumerate(zip(encoding.ids, encoding.tokens, strict=True)):
        table.add_row(str(position), str(token_id), token, repr(tokenizer.decode([token_id])))
    console.print(table)
    console.print(" | ".join(tokenizer.decode([i]) for i in encoding.ids), highlight=False)

"""Who may call the service: named bearer tokens, from the environment or a file.

`TOKENMILL_SERVICE_TOKENS` holds `name=token` pairs separated by commas; a tokens file holds
one `name=token` a line (`#` starts a comment). The name is what the job store records as a
job's submitter. A presented token is compared with every known one in constant time, so
the time a check takes tells nothing about which token came close.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from pipeline.schema import ConfigError

TOKENS_ENV = "TOKENMILL_SERVICE_TOKENS"
NAME_LENGTH = 100
"""The longest token name: the job store's `submitter` column."""


def parse_tokens(lines: list[str], origin: str) -> dict[str, str]:
    """`name=token` lines as {token: name}."""
    tokens: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, token = (part.strip() for part in line.partition("="))
        if not sep or not name or not token:
            raise ConfigError(f"{origin}:{number}: expected name=token")
        if len(name) > NAME_LENGTH:
            raise ConfigError(f"{origin}:{number}: a name of at most {NAME_LENGTH} characters")
        if token in tokens:
            raise ConfigError(
                f"{origin}:{number}: the token of {name!r} is also {tokens[token]!r}'s"
            )
        tokens[token] = name
    return tokens


def load_tokens(path: str | None) -> dict[str, str]:
    """The tokens of the file `path`, else of the environment; at least one."""
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            problem = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ConfigError(f"--tokens-file {path}: {problem}") from None
        tokens = parse_tokens(lines, path)
    else:
        tokens = parse_tokens(os.environ.get(TOKENS_ENV, "").split(","), TOKENS_ENV)
    if not tokens:
        raise ConfigError(f"no API tokens: give --tokens-file FILE or set {TOKENS_ENV}=name=token")
    return tokens


def caller(tokens: dict[str, str], presented: str) -> str | None:
    """The name of the token presented, or None; every known token is compared."""
    found = None
    for token, name in tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            found = name
    return found

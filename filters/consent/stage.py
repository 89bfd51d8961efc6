"""The `consent` stage: AI opt-out signals and licences, per document.

Annotates `ai_opt_out` (the signals found, comma-separated, null where none) and `license`
(the SPDX id of the Creative Commons licence the page declares, null where none). The
signals, strongest first:
- `tdm_reserved`, `noai_header`, `noai_meta`: what the page says of itself in its HTTP
  headers and HTML (filters/consent/page_signals.py);
- `robots_disallowed`: its host's robots.txt disallows its URL to one of `agents`, from the
  robots.txt captures in `robots` (filters/consent/robots.py). This one works on any input
  whose documents have a URL.

`mode: annotate` (the default) removes nothing; `filter` removes a document under its
strongest signal as the reason and, with `licenses`, removes `license_not_kept` every
document without one of them. Counts `opt_out.<signal>` and `license.<id>` over the
documents it sees, so an annotating run's report shows how much of the crawl opted out.

The page's own signals need its HTML and HTTP headers, which a WARC input's documents carry
until the last stage that reads them: put `consent` before `dedup` (the config says so).
The agents are the AI-training crawlers that the Data Provenance Initiative's audit of
robots.txt restrictions (Longpre et al., "Consent in Crisis", 2024) followed, with the ones
announced since.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from filters.consent.page_signals import license_family, page_signals, worth_parsing
from filters.consent.robots import read_robots_rules, robots_rules
from pipeline.schema import AbsolutePath, StrictModel
from pipeline.stage import Stage, Verdict

AI_AGENTS = (
    "GPTBot",
    "ClaudeBot",
    "anthropic-ai",
    "CCBot",
    "Google-Extended",
    "Applebot-Extended",
    "meta-externalagent",
    "FacebookBot",
    "Bytespider",
    "cohere-ai",
    "cohere-training-data-crawler",
    "Amazonbot",
    "Diffbot",
    "omgili",
    "AI2Bot",
)
LICENSE_FAMILIES = frozenset(
    {"CC-BY", "CC-BY-SA", "CC-BY-ND", "CC-BY-NC", "CC-BY-NC-SA", "CC-BY-NC-ND"}
    | {"CC0", "CC-PDM", "CC-PDDC"}
)


class Consent(Stage):
    """Labels the AI opt-out signals and the licence of each document; can drop opt-outs."""

    name = "consent"
    reads = ("html", "http_headers")
    fields = (pa.field("ai_opt_out", pa.string()), pa.field("license", pa.string()))

    class Params(StrictModel):
        mode: Literal["annotate", "filter"] = "annotate"
        """`annotate` only labels; `filter` also removes each document that opted out."""
        agents: list[str] = Field(default_factory=lambda: list(AI_AGENTS), min_length=1)
        """The crawlers whose robots.txt rules, `X-Robots-Tag: <agent>: noai` headers and
        `<meta name="<agent>">` tags count: AI-training crawlers by default."""
        robots: list[AbsolutePath] | None = None
        """WARC files (paths or globs) of robots.txt captures, such as Common Crawl's
        `robotstxt/` files of the segments read; absent: robots.txt is not consulted."""
        licenses: list[str] | None = Field(default=None, min_length=1)
        """With `mode: filter`, keep only documents under one of these licences: a family
        (`CC-BY`, `CC-BY-SA`, `CC0`, `CC-PDM`, ...) or one version of it (`CC-BY-4.0`)."""

        @field_validator("agents")
        @classmethod
        def _agent_names(cls, agents: list[str]) -> list[str]:
            for agent in agents:
                if not agent or any(c in agent for c in " :,/"):
                    raise ValueError(f"{agent!r}: not a user agent name (one token, GPTBot)")
            return agents

        @field_validator("robots")
        @classmethod
        def _robots_read(cls, robots: list[str] | None) -> list[str] | None:
            """Read before the run, as the shards will read them: a file that cannot be read
            is a config error, not every document errored."""
            if robots is not None:
                read_robots_rules(tuple(robots))
            return robots

        @field_validator("licenses")
        @classmethod
        def _known_licenses(cls, licenses: list[str] | None) -> list[str] | None:
            if licenses is None:
                return None
            licenses = [name.upper() for name in licenses]
            unknown = [name for name in licenses if license_family(name) not in LICENSE_FAMILIES]
            if unknown:
                raise ValueError(
                    f"{', '.join(unknown)}: not a Creative Commons licence's SPDX id (one of "
                    f"{', '.join(sorted(LICENSE_FAMILIES))}, optionally with its version)"
                )
            return licenses

        @model_validator(mode="after")
        def _licenses_filter(self) -> Consent.Params:
            if self.licenses is not None and self.mode != "filter":
                raise ValueError("licenses: keeps documents only with `mode: filter`")
            return self

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.agents = tuple(params.agents)
        self.agent_names = frozenset(agent.lower() for agent in params.agents)

    def load(self) -> None:
        if self.params.robots:
            robots_rules(tuple(self.params.robots))

    def process(self, table: pa.Table) -> Verdict:
        rules = robots_rules(tuple(self.params.robots)) if self.params.robots else None
        rows = table.num_rows
        htmls = _worth_parsing(table)
        headers = _column(table, "http_headers")
        urls = _column(table, "url")
        opt_outs, licenses, removed, details = [], [], [], []
        counters: Counter[str] = Counter()
        for row in range(rows):
            signals = page_signals(htmls[row], headers[row], self.agent_names)
            refusing = rules.disallowing(urls[row], self.agents) if rules else []
            if refusing:
                signals.opt_outs.append("robots_disallowed")
            counters.update(f"opt_out.{signal}" for signal in signals.opt_outs)
            if signals.license:
                counters[f"license.{signals.license}"] += 1
            opt_outs.append(",".join(signals.opt_outs) or None)
            licenses.append(signals.license)
            reason, detail = self._removal(signals.opt_outs, signals.license, refusing)
            removed.append(reason)
            details.append(detail)
        table = table.append_column("ai_opt_out", pa.array(opt_outs, pa.string()))
        table = table.append_column("license", pa.array(licenses, pa.string()))
        return Verdict(
            table,
            removed=pa.array(removed, pa.string()),
            details=pa.array(details, pa.string()),
            counters=dict(counters),
        )

    def _removal(
        self, opt_outs: list[str], license: str | None, refusing: list[str]
    ) -> tuple[str | None, str | None]:
        """Why `filter` removes a document, and what decided it; (None, None) to keep it."""
        if self.params.mode != "filter":
            return None, None
        if opt_outs:
            reason = opt_outs[0]
            if reason == "robots_disallowed":
                return reason, f"robots.txt disallows {', '.join(refusing)}"
            return reason, ",".join(opt_outs)
        kept = self.params.licenses
        if kept and not (license in kept or (license and license_family(license) in kept)):
            return "license_not_kept", f"{license or 'no licence'} not in licenses"
        return None, None


def _worth_parsing(table: pa.Table) -> list[bytes | None]:
    """Each page's HTML where it may hold a signal, else None."""
    if "html" not in table.column_names:
        return [None] * table.num_rows
    html = table.column("html")
    rows = np.flatnonzero(worth_parsing(html))
    pages: list[bytes | None] = [None] * table.num_rows
    for row, page in zip(rows, html.take(rows).to_pylist(), strict=True):
        pages[row] = page
    return pages


def _column(table: pa.Table, name: str) -> list:
    """The column's values, or None for each row where the documents have no such column."""
    if name not in table.column_names:
        return [None] * table.num_rows
    return table.column(name).to_pylist()

"""The consent stage's page signals vs reading them from a parse of the whole page.

One process, one core, the same pages for both: the WARC's HTML responses through our
reader, in batches of 256.
  - ours: the `consent` stage (an Arrow scan of the batch for the markers, then only the
    tags around them parsed, each alone),
  - reference: lxml parses each whole page and looks at every `<meta>`, `<link>` and `<a>`
    (support/consent_reference.py, what the tests check the stage against).
Batches alternate which goes first. Prints pages/s, the ratio, and on how many pages the
two disagree about the licence or the opt-outs (the reference reads no HTTP headers, so
pages whose headers carry a signal are left out of that count).

    python -m benchmarks.consent [WARC] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from filters.consent.page_signals import page_signals
from filters.consent.stage import AI_AGENTS, Consent
from pipeline.config import InputSpec
from pipeline.inputs import InputFile
from pipeline.readers import read_documents
from pipeline.stats import StageStats
from support.consent_reference import whole_page_signals
from support.corpora import EVAL_WARC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warc", nargs="?", type=Path, default=EVAL_WARC)
    parser.add_argument("--limit", type=int, default=None, help="pages to read (default: all)")
    args = parser.parse_args()
    stage = Consent(Consent.Params())
    agents = frozenset(agent.lower() for agent in AI_AGENTS)
    spec = InputSpec(source="web", format="warc", paths=[str(args.warc)])
    batches = read_documents(InputFile(spec, str(args.warc), "web-00000"), StageStats(), 256)
    pages = ours_s = reference_s = differ = with_headers = 0
    for number, batch in enumerate(batches):
        if args.limit is not None:
            batch = batch.slice(0, max(args.limit - pages, 0))
        htmls = batch["html"].to_pylist()
        for turn in (number % 2, 1 - number % 2):
            started = time.perf_counter()
            if turn == 0:
                verdict = stage.process(batch)
                ours_s += time.perf_counter() - started
            else:
                expected = [whole_page_signals(html, agents) for html in htmls]
                reference_s += time.perf_counter() - started
        rows = zip(
            verdict.table["ai_opt_out"].to_pylist(),
            verdict.table["license"].to_pylist(),
            expected,
            batch["http_headers"].to_pylist(),
            strict=True,
        )
        for opt_out, license, (opt_outs, spdx), headers in rows:
            said = page_signals(None, headers, agents)
            if said.opt_outs or said.license:
                with_headers += 1
            elif (opt_out, license) != (",".join(opt_outs) or None, spdx):
                differ += 1
        pages += batch.num_rows
        if args.limit is not None and pages >= args.limit:
            break
    table = Table(title=f"consent signals on {pages:,} pages of {args.warc.name}")
    for column in ("", "seconds", "pages/s"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("ours (consent stage)", f"{ours_s:.3f}", f"{pages / ours_s:,.0f}")
    table.add_row("lxml, whole page", f"{reference_s:.3f}", f"{pages / reference_s:,.0f}")
    console = Console()
    console.print(table)
    console.print(f"ours is {reference_s / ours_s:.1f}× the whole-page reading")
    console.print(
        f"pages where the two disagree: {differ} (left out: {with_headers} with a signal header)"
    )


if __name__ == "__main__":
    main()

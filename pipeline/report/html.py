"""OUT/report/report.html: report.json as one self-contained page.

No script, no external resource: the styles are inline, the charts inline SVG
(`pipeline.report.svg`), and samples fold open with `<details>`. A Content-Security-Policy
forbids the page any network access, so opening it offline shows everything.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.console import plural
from pipeline.report import svg
from pipeline.report.mixture_misses import mixture_misses

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:24px;margin:8px 0 2px} h2{font-size:18px;margin:30px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.muted{color:#6b7385} .bad{color:#b42318;font-weight:600} .good{color:#067647;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid #d8dde6;border-radius:8px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e1e5ec;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#eef1f5;text-align:left} td.l{text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure{background:#fff;border:1px solid #d8dde6;border-radius:8px;margin:0;padding:8px 10px}
figcaption{font-weight:600} figcaption span{font-weight:400}
svg{font-size:11px;fill:#1d2433;display:block;margin-top:4px;max-width:100%;height:auto} svg .bar{fill:#3b6fd8} svg .bar:hover{fill:#183e91}
svg .axis{stroke:#9aa3b5} svg .dropped{fill:#e8923a}
details{background:#fff;border:1px solid #d8dde6;border-radius:6px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer;font-weight:600} summary span{font-weight:400}
.doc{border-top:1px solid #e8ebf0;padding:6px 0}
.doc pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;padding:6px;margin:4px 0;max-height:180px;overflow:auto;font-size:12px}
.sig{font-size:12px} .sig code{background:#eef1f5;padding:0 4px;border-radius:3px;margin-right:6px}
.url{word-break:break-all;font-size:12px}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(report: dict[str, Any]) -> str:
    sections = [
        _overview(report),
        _funnel(report),
        _tokens(report),
        _distribution(report),
        _domains(report),
        _histograms(report),
        _counters(report),
        _phases(report),
        _shards(report),
        _removed_samples(report),
        _kept_samples(report),
    ]
    return page(f"tokenmill report: {report['name']}", sections)


def page(title: str, sections: list[str]) -> str:
    """A self-contained page: inline styles, no script, no network (CSP)."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )


def _overview(report: dict[str, Any]) -> str:
    funnel = report["funnel"]
    records = funnel[0]["docs_in"] if funnel else 0
    problems = report["conservation_problems"]
    cards = [
        ("input records", f"{records:,}", "id-records"),
        ("documents kept", f"{report['documents']:,}", "id-documents"),
        ("share kept", _share(report["documents"], records), "id-share"),
        ("text kept", f"{_megabytes(report['text_bytes'])} MB", "id-bytes"),
        ("shards", f"{len(report['shards']):,}", "id-shards"),
        ("run time", f"{report['elapsed_s']:,.1f} s", "id-elapsed"),
    ]
    if report.get("tokens"):
        cards.insert(
            2, ("training tokens", f"{report['tokens']['train']['tokens']:,}", "id-tokens")
        )
    conservation = (
        '<p class="good">Counts are conserved at every stage: in = kept + removed + errored.</p>'
        if not problems
        else "".join(f'<p class="bad">Counts not conserved: {escape(p)}</p>' for p in problems)
    )
    return (
        f"<h1>{escape(report['name'])}</h1>"
        f'<p class="muted">report schema {report["schema_version"]} · created '
        f"{escape(str(report.get('created', '')))}</p>"
        '<div class="cards">'
        + "".join(
            f'<div class="card" id="{key}"><b>{value}</b>{label}</div>'
            for label, value, key in cards
        )
        + f"</div>{conservation}"
    )


def _funnel(report: dict[str, Any]) -> str:
    rows = []
    for entry in report["funnel"]:
        dropped = sum(entry["removed"].values()) + sum(entry["errored"].values())
        rows.append(
            f'<tr id="funnel-{escape(entry["stage"])}"><td class="l">{escape(entry["stage"])}</td>'
            f'<td class="in">{entry["docs_in"]:,}</td><td class="kept">{entry["kept"]:,}</td>'
            f"<td>{sum(entry['removed'].values()):,}</td><td>{sum(entry['errored'].values()):,}</td>"
            f"<td>{_share(dropped, entry['docs_in'])}</td>"
            f"<td>{_stage_megabytes(entry, 'bytes_in')}</td>"
            f"<td>{_stage_megabytes(entry, 'bytes_kept')}</td>"
            f"<td>{entry.get('startup_s', 0):,.1f}</td><td>{entry['elapsed_s']:,.1f}</td></tr>"
        )
    chart = svg.funnel_bars(
        [(e["stage"], e["kept"], e["docs_in"] - e["kept"]) for e in report["funnel"]]
    )
    return (
        "<h2>Funnel</h2>"
        '<p class="muted">Documents into and out of each stage, in plan order; "read" counts '
        "the input records. Bytes are the text (the HTML before extraction). Seconds are summed "
        "over shard tasks: start-up (building the stage and loading its models, once per "
        "worker process) and work (deciding on the documents).</p>"
        + table(
            [
                "stage",
                "in",
                "kept",
                "removed",
                "errored",
                "dropped",
                "MB in",
                "MB kept",
                "start-up s",
                "work s",
            ],
            rows,
            table_id="funnel",
        )
        + chart
        + _reasons(report)
    )


def _reasons(report: dict[str, Any]) -> str:
    rows = []
    for entry in report["funnel"]:
        dropped = [("removed", r, n) for r, n in entry["removed"].items() if n] + [
            ("errored", r, n) for r, n in entry["errored"].items() if n
        ]
        for kind, reason, count in sorted(dropped, key=lambda d: -d[2]):
            megabytes = entry.get("bytes_dropped", {}).get(reason)
            rows.append(
                f'<tr><td class="l">{escape(entry["stage"])}</td><td class="l">{escape(reason)}</td>'
                f'<td class="l">{kind}</td><td>{count:,}</td><td>{_share(count, entry["docs_in"])}</td>'
                f"<td>{'' if megabytes is None else _megabytes(megabytes)}</td></tr>"
            )
    if not rows:
        return '<p class="muted">Nothing was removed.</p>'
    return "<h3>Removed and errored, by reason</h3>" + table(
        ["stage", "reason", "kind", "documents", "of stage input", "MB"], rows, table_id="reasons"
    )


def _tokens(report: dict[str, Any]) -> str:
    tokens = report.get("tokens")
    if not tokens:
        return ""
    rows = [
        f'<tr><td class="l">{escape(s["source"])}</td><td>{_percent(s["requested_share"])}</td>'
        f"<td>{_percent(s['realised_share'])}</td><td>{s['tokens']:,}</td>"
        f"<td>{s['requested_epochs']:.2f}</td><td>{s['realised_epochs']:.2f}</td>"
        f"<td>{s['documents']:,}</td><td>{s['copies_added']:,}</td><td>{s['downsampled']:,}</td>"
        f"<td>{s['val_tokens']:,}</td></tr>"
        for s in tokens["mixture"]
    ]
    shares = svg.horizontal_bars(
        [
            (f"{s['source']} {kind}", s[f"{kind}_share"], _percent(s[f"{kind}_share"]))
            for s in tokens["mixture"]
            for kind in ("requested", "realised")
        ],
        width=560,
    )
    shards = [
        f'<tr><td class="l">{escape(s["path"])}</td><td class="l">{escape(s["split"])}</td>'
        f"<td>{s['rows']:,}</td><td>{s['tokens']:,}</td><td>{_megabytes(s['size'])}</td>"
        f'<td class="l"><code title="{escape(s["sha256"])}">{escape(s["sha256"][:12])}</code></td></tr>'
        for s in tokens["shard_files"]
    ]
    train, val = tokens["train"], tokens["val"]
    return (
        "<h2>Mixture and token shards</h2>"
        f"<p>{train['tokens']:,} training tokens in {plural(train['shards'], 'shard')}, "
        f"{val['tokens']:,} validation tokens in {val['shards']}; tokenizer sha256 "
        f"<code>{escape(tokens['tokenizer_sha256'][:12])}</code>.</p>"
        + "".join(f'<p class="bad">{escape(miss)}</p>' for miss in mixture_misses(tokens))
        + table(
            [
                "source",
                "requested",
                "realised",
                "tokens",
                "epochs asked",
                "epochs",
                "documents",
                "copies added",
                "downsampled",
                "val tokens",
            ],
            rows,
            table_id="mixture",
        )
        + shares
        + "<details><summary>Token shards</summary>"
        + table(["shard", "split", "rows", "tokens", "MB", "sha256"], shards)
        + "</details>"
    )


def _distribution(report: dict[str, Any]) -> str:
    parts = ["<h2>Kept documents by source and language</h2>"]
    for title, key in (("Sources", "sources"), ("Languages", "languages")):
        rows = report.get(key) or []
        if not rows:
            continue
        total = sum(row["documents"] for row in rows) or 1
        chart = svg.horizontal_bars(
            [(r["name"], r["documents"], f"{r['documents']:,}") for r in rows[:25]], width=560
        )
        body = [
            f'<tr><td class="l">{escape(r["name"])}</td><td>{r["documents"]:,}</td>'
            f"<td>{_share(r['documents'], total)}</td><td>{_megabytes(r['bytes'])}</td></tr>"
            for r in rows
        ]
        parts.append(
            f"<h3>{title}</h3>"
            + table([title[:-1].lower(), "documents", "share", "MB"], body, table_id=key)
            + chart
        )
    return "".join(parts)


def _domains(report: dict[str, Any]) -> str:
    domains = report.get("domains") or []
    if not domains:
        return ""
    rows = [
        f'<tr><td class="l">{escape(d["name"])}</td><td>{d["documents"]:,}</td>'
        f"<td>{d['kept']:,}</td><td>{d['removed']:,}</td><td>{_megabytes(d['bytes_kept'])}</td>"
        f'<td class="l sig">'
        + "".join(f"<code>{escape(r)}={n:,}</code>" for r, n in d["top_reasons"].items())
        + "</td></tr>"
        for d in domains
    ]
    return (
        f'<h2>Domains</h2><p class="muted">The {len(domains)} web domains with the most '
        "documents, and why the removed ones went.</p>"
        + table(
            ["domain", "documents", "kept", "removed", "MB kept", "top reasons"],
            rows,
            table_id="domains",
        )
    )


def _histograms(report: dict[str, Any]) -> str:
    histograms = report.get("histograms") or {}
    if not histograms:
        return ""
    figures = []
    for name, data in histograms.items():
        mean = "" if data["mean"] is None else f", mean {svg.number(data['mean'])}"
        missing = f", {data['missing']:,} missing" if data["missing"] else ""
        figures.append(
            f'<figure id="hist-{escape(name)}"><figcaption>{escape(name)} '
            f"<span>({escape(data['description'])}): {data['count']:,} documents{mean}"
            f"{missing}</span></figcaption>{svg.histogram(data)}</figure>"
        )
    return (
        "<h2>Distributions of the kept documents</h2>"
        '<p class="muted">Fixed bins merged from every shard; values outside the bins fall in '
        "the first or last one. Hover a bar for its range and count.</p>"
        f'<div class="grid">{"".join(figures)}</div>'
    )


def _counters(report: dict[str, Any]) -> str:
    figures = []
    for entry in report["funnel"]:
        counters = entry.get("counters") or {}
        if counters:
            rows = [(k, v, f"{v:,}") for k, v in sorted(counters.items(), key=lambda kv: -kv[1])]
            figures.append(
                f"<figure><figcaption>{escape(entry['stage'])}</figcaption>"
                f"{svg.horizontal_bars(rows, width=520)}</figure>"
            )
    if not figures:
        return ""
    return (
        "<h2>What stages counted</h2>"
        '<p class="muted">Counts beyond documents: PII entities by type, lines removed by '
        "line-level rules, benchmark matches.</p>" + f'<div class="grid">{"".join(figures)}</div>'
    )


def _phases(report: dict[str, Any]) -> str:
    """Each global phase's summary: its numbers, its count tables as bars, sample clusters."""
    parts = []
    for name, summary in (report.get("phases") or {}).items():
        scalars = [
            f'<tr><td class="l">{escape(key)}</td><td>{escape(_signal(value))}</td></tr>'
            for key, value in summary.items()
            if isinstance(value, int | float | str)
        ]
        parts.append(f"<h3>{escape(name)}</h3>" + table(["", "value"], scalars))
        for key, value in summary.items():
            if (
                isinstance(value, dict)
                and value
                and all(isinstance(v, int) for v in value.values())
            ):
                bars = [(k, v, f"{v:,}") for k, v in value.items()]
                parts.append(f"<figure><figcaption>{escape(key)}</figcaption>")
                parts.append(f"{svg.horizontal_bars(bars, width=560)}</figure>")
        for cluster in summary.get("sample_clusters") or []:
            parts.append(_cluster(cluster))
    if not parts:
        return ""
    return "<h2>Global phases</h2>" + "".join(parts)


def _cluster(cluster: dict[str, Any]) -> str:
    """A duplicate cluster: the document that survived and copies removed in its favour."""
    survivor = cluster["survivor"]
    copies = "".join(
        f'<div class="doc"><div class="sig"><code>reason={escape(c["reason"])}</code>'
        f"<code>id={escape(c['id'])}</code></div><pre>{escape(c['excerpt'])}</pre></div>"
        for c in cluster["removed"]
    )
    return (
        f"<details><summary>cluster of {cluster['size']:,} "
        f"<span>(survivor {escape(survivor['id'])})</span></summary>"
        f'<div class="doc"><div class="sig"><code>kept</code></div>'
        f"<pre>{escape(survivor['excerpt'])}</pre></div>{copies}</details>"
    )


def _input(shard: dict[str, Any]) -> str:
    more = shard.get("input_files", 1) - 1
    return f"{shard['input']} and {more} more" if more else shard["input"]


def _shards(report: dict[str, Any]) -> str:
    rows = []
    for shard in report["shards"]:
        kept = [step["kept"] for step in shard["funnel"]]
        first_in = shard["funnel"][0]["docs_in"] if shard["funnel"] else 0
        steps = " → ".join(f"{s['stage']} {s['kept']:,}" for s in shard["funnel"])
        file = shard.get("file") or {}
        checksum = file.get("sha256") or file.get("etag") or ""
        rows.append(
            f'<tr><td class="l">{escape(shard["shard"])}</td>'
            f'<td class="l url">{escape(_input(shard))}</td><td>{shard["documents"]:,}</td>'
            f"<td>{_megabytes(shard['text_bytes'])}</td><td>{_megabytes(file.get('size'))}</td>"
            f'<td class="l"><code title="{escape(checksum)}">{escape(checksum[:12])}</code></td>'
            f'<td class="l">{svg.mini_funnel([first_in, *kept])}'
            f'<span class="muted sig">{first_in:,} in → {escape(steps)}</span></td></tr>'
        )
    listing = table(
        ["shard", "input", "documents", "MB text", "MB file", "sha256", "funnel"],
        rows,
        table_id="shards",
    )
    return (
        f"<h2>Document shards</h2><details open><summary>{plural(len(rows), 'shard')}</summary>"
        f"{listing}</details>"
    )


def _removed_samples(report: dict[str, Any]) -> str:
    samples = report.get("removed_samples") or {}
    counts = {
        (e["stage"], reason): n
        for e in report["funnel"]
        for reason, n in (*e["removed"].items(), *e["errored"].items())
    }
    blocks = []
    for stage, reasons in samples.items():
        for reason, documents in sorted(reasons.items()):
            total = counts.get((stage, reason), len(documents))
            blocks.append(
                f"<details><summary>{escape(stage)} · {escape(reason)} "
                f"<span>({plural(total, 'document')}; {len(documents)} shown)</span></summary>"
                + "".join(document_html(d, [("reason", reason)]) for d in documents)
                + "</details>"
            )
    if not blocks:
        return ""
    return (
        "<h2>What was removed</h2>"
        '<p class="muted">A uniform sample per stage and reason, with the signals the document '
        "carried when it was removed.</p>" + "".join(blocks)
    )


def _kept_samples(report: dict[str, Any]) -> str:
    documents = report.get("kept_samples") or []
    if not documents:
        return ""
    return (
        "<h2>What was kept</h2>"
        f"<details><summary>A uniform sample of {len(documents)} kept documents</summary>"
        + "".join(document_html(d) for d in documents)
        + "</details>"
    )


def document_html(document: dict[str, Any], labels: list[tuple[str, str]] = ()) -> str:
    """A sample document: its link, source, size, `labels` and signals, and its excerpt."""
    url = document.get("url")
    link = (
        f'<a class="url" href="{escape(url)}" rel="noreferrer noopener">{escape(url)}</a>'
        if url and url.startswith(("http://", "https://"))
        else escape(url or document.get("id") or "")
    )
    signals = list(labels)
    signals += [("measured", document["detail"])] if document.get("detail") else []
    signals += list((document.get("signals") or {}).items())
    shown = "".join(f"<code>{escape(k)}={escape(_signal(v))}</code>" for k, v in signals)
    return (
        f'<div class="doc"><div>{link} <span class="muted">· {escape(str(document.get("source")))}'
        + (f" · {document['chars']:,} chars" if "chars" in document else "")
        + "</span></div>"
        f'<div class="sig">{shown}</div><pre>{escape(document.get("excerpt") or "")}</pre></div>'
    )


def table(headers: list[str], rows: list[str], table_id: str | None = None) -> str:
    """A table of `rows` (each a `<tr>…</tr>`) under `headers`."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _signal(value: Any) -> str:
    if isinstance(value, float):
        return svg.number(value)
    return str(value)


def _stage_megabytes(entry: dict[str, Any], key: str) -> str:
    """A stage that counted documents but no bytes (the mixture) shows none, not zero."""
    return "–" if entry["docs_in"] and not entry["bytes_in"] else _megabytes(entry[key])


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _megabytes(value: int | None) -> str:
    return "–" if value is None else f"{value / 1e6:,.2f}"

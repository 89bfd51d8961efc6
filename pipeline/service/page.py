"""The service's one HTML page: the jobs, newest first, each linked to its report."""

from __future__ import annotations

from html import escape

from pipeline.service.store import JobRecord

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em}"
    "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;"
    "text-align:left}"
)


def jobs_page(records: list[JobRecord]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{escape(record.id)}</td><td>{escape(record.name)}</td><td>{escape(record.kind)}</td>"
        f"<td>{escape(record.submitter)}</td><td>{escape(record.status)}</td>"
        f"<td>{escape(record.created_at.isoformat(timespec='seconds'))}</td>"
        f'<td><a href="/jobs/{escape(record.id)}/report">report</a> '
        f'<a href="/jobs/{escape(record.id)}/logs">logs</a></td>'
        "</tr>"
        for record in records
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>tokenmill jobs</title>"
        f"<style>{STYLE}</style></head><body><h1>tokenmill jobs</h1>"
        "<table><tr><th>id</th><th>name</th><th>kind</th><th>submitter</th><th>status</th>"
        f"<th>submitted</th><th></th></tr>{rows}</table>"
        "<p><a href='/docs'>API</a></p></body></html>"
    )

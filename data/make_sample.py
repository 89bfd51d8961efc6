"""Build tokenmill's small synthetic sample corpus (``data/sample``).

Run ``python -m data.make_sample [OUTDIR]`` from the repository root (default: ``sample/``
next to this script).
It writes:

* ``web-000.warc.gz`` .. ``web-002.warc.gz``: WARC/1.0 files laid out like Common Crawl's
  (one gzip member per record; a ``warcinfo`` record, then a ``request`` and a ``response``
  record per page) holding regular articles in four languages, near and exact duplicates,
  spam, pages with PII, and awkward records (404, 301, PNG, PDF, Latin-1, a mislabelled
  charset, no charset, a truncated body);
* ``wiki.jsonl``: short encyclopedia-style articles, one JSON object per line;
* ``manifest.jsonl``: the ground truth for every response record (category, language,
  which page a duplicate copies, where the record sits in its file);
* ``README.md``: a description of the files.

All prose was written for tokenmill; the text banks lie in ``data/sample_text/`` and the
page layouts here. Articles are composed from topic sentence banks with seeded
``random.Random`` generators; dates and record ids are fixed, so two runs give
byte-identical files. Besides the standard library it uses PyYAML (the banks) and the
repository's one WARC writer (support/warcs.py).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import html
import itertools
import json
import random
import re
import struct
import unicodedata
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import yaml

from support.warcs import format_record, gzip_member

SEED = "tokenmill-sample-v1"
WARC_FILE_COUNT = 3
CRAWL_START = dt.datetime(2024, 2, 20, 6, 0, tzinfo=dt.UTC)
FIRST_PUBLISHED = dt.date(2022, 11, 1)
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org/tokenmill/sample")
USER_AGENT = "tokenmill-sample-bot/1.0 (+https://example.org/tokenmill/bot)"
WIKI_BASE = "https://wiki.example.org/wiki/"
SLOT_PATTERN = re.compile(r"\{(\w+)\}")


def lines(text: str) -> list[str]:
    """The non-blank lines of a text bank, stripped."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def prose(text: str) -> str:
    """A paragraph written over several source lines, joined into one line."""
    return " ".join(text.split())


def make_rng(*labels: object) -> random.Random:
    """An independent, reproducible generator for one part of the sample."""
    return random.Random("/".join([SEED, *map(str, labels)]))


# ---------------------------------------------------------------------------------------
# Text banks: topics
# ---------------------------------------------------------------------------------------


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[str]
    ranges: list[tuple[int, int]]


@dataclass
class Topic:
    """A sentence bank; ``{slot}`` placeholders are filled per article or per sentence.

    When ``anchor`` is set, each article picks one of ``anchors`` for that slot and keeps it
    for the whole article (its subject), so that titles and sentences agree.
    """

    name: str
    lang: str
    titles: list[str]
    sentences: list[str]
    slots: dict[str, list[str]] = field(default_factory=dict)
    anchor: str | None = None
    anchors: list[str] = field(default_factory=list)
    bullets: tuple[str, list[str]] | None = None
    table: Table | None = None


# ---------------------------------------------------------------------------------------
# Text banks, read from data/sample_text/
# ---------------------------------------------------------------------------------------

TEXT = Path(__file__).resolve().parent / "sample_text"
"""topics.yaml (a sentence bank per topic and language), slots.yaml (names, towns, ...),
comments.yaml, pii.md (paragraphs with personal data, all fictional: example domains,
drama and test numbers; each section `# topic | title [| at end]`, the paragraphs to insert
into an article of that topic; {card}, {iban_gb} and {iban_de} come from pii_values()),
spam.yaml (spam and low-quality pages), held_out.yaml (sentences for held-out.jsonl alone),
pdf.txt, wiki.md (encyclopedia articles for wiki.jsonl: `# Title`, then paragraphs),
wiki_near_copy.yaml, readme.md (the README)."""


def text_file(name: str) -> str:
    return (TEXT / name).read_text(encoding="utf-8")


def yaml_file(name: str):
    return yaml.safe_load(text_file(name))


def topic_from(data: dict) -> Topic:
    table, bullets = data.get("table"), data.get("bullets")
    return Topic(
        **{key: value for key, value in data.items() if key not in ("table", "bullets")},
        bullets=(bullets["intro"], bullets["items"]) if bullets else None,
        table=Table(**{**table, "ranges": [tuple(r) for r in table["ranges"]]}) if table else None,
    )


COMMON_SLOTS: dict[str, dict[str, list[str]]] = yaml_file("slots.yaml")
ENGLISH_TOPICS, GERMAN_TOPICS, FRENCH_TOPICS, SPANISH_TOPICS = (
    [topic_from(topic) for topic in topics] for topics in yaml_file("topics.yaml").values()
)
TOPICS = {
    topic.name: topic
    for topic in [*ENGLISH_TOPICS, *GERMAN_TOPICS, *FRENCH_TOPICS, *SPANISH_TOPICS]
}
COMMENTS, COMMENTERS = yaml_file("comments.yaml").values()
PII_TEXT = text_file("pii.md")
SPAM = yaml_file("spam.yaml")
SPAM_SUFFIXES = SPAM["suffixes"]
WATCH_KEYWORDS, LOAN_KEYWORDS, DIET_KEYWORDS = (
    SPAM[f"{kind}_keywords"] for kind in ("watch", "loan", "diet")
)
DIRECTORY_CATEGORIES = SPAM["directory_categories"]
LOREM_TEXT = SPAM["lorem"]
JS_TEMPLATES = SPAM["js_templates"]
JS_NAMES = SPAM["js_names"]
PRIZE_LINES = SPAM["prize_lines"]
DOORWAY_CITIES = SPAM["doorway_cities"]
PDF_LINES = text_file("pdf.txt").splitlines()
WIKI_TEXT = text_file("wiki.md")
NEAR_COPY = yaml_file("wiki_near_copy.yaml")
WIKI_NEAR_COPY = (
    NEAR_COPY["title"],
    NEAR_COPY["near_title"],
    [tuple(edit) for edit in NEAR_COPY["edits"]],
)
README_TEMPLATE = text_file("readme.md")
WIKI_NEAR_COPY_POSITION = 30

# ---------------------------------------------------------------------------------------
# Sites, themes and interface strings
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    """Markup choices for one site template; class names differ from theme to theme."""

    name: str
    body: str
    header: str
    nav: str
    main: str
    article: str
    sidebar: str
    comment: str
    cookie: str
    footer: str
    semantic: bool = True  # <header>/<nav>/<aside>/<footer>, or plain <div>s
    nav_list: bool = True  # menu as <ul><li>, or bare links
    sidebar_first: bool = False
    comments_list: bool = False  # comments in an <ol>, or as <div>s


THEMES = {
    "news": Theme(
        "news",
        "site-news",
        "masthead",
        "primary-nav",
        "page-grid",
        "story",
        "rail",
        "comment-card",
        "cc-banner",
        "site-footer",
    ),
    "blog": Theme(
        "blog",
        "wp-site home-blog",
        "site-header",
        "main-navigation",
        "content-area",
        "post hentry",
        "widget-area",
        "comment-body",
        "cookie-notice",
        "site-info",
        comments_list=True,
    ),
    "magazine": Theme(
        "magazine",
        "mag",
        "top-bar",
        "menu",
        "layout two-col",
        "entry",
        "related-box",
        "reader-comment",
        "consent-popup",
        "bottom",
        nav_list=False,
        sidebar_first=True,
    ),
    "travel": Theme(
        "travel",
        "tl-body",
        "hero-header",
        "tl-nav",
        "tl-container",
        "tl-post",
        "tl-more",
        "tl-comment",
        "gdpr-bar",
        "tl-footer",
        nav_list=False,
        comments_list=True,
    ),
    "aggregator": Theme(
        "aggregator",
        "agg",
        "agg-head",
        "agg-nav",
        "agg-main",
        "agg-article syndicated",
        "agg-trending",
        "agg-reply",
        "agg-consent",
        "agg-foot",
        sidebar_first=True,
    ),
    "legacy": Theme(
        "legacy",
        "page",
        "hdr",
        "menu-top",
        "cnt",
        "txt",
        "side",
        "cmt",
        "cookiebar",
        "ftr",
        semantic=False,
        nav_list=False,
    ),
}


@dataclass
class Site:
    domain: str
    name: str
    lang: str
    theme: Theme
    menu: list[str]
    url_pattern: str  # fields: section, slug, yyyy, mm, dd, n
    sections: dict[str, str] = field(default_factory=dict)
    server: str = "nginx"
    charset_label: str = "utf-8"


SITES = {
    "courier": Site(
        "www.northfield-courier.example",
        "The Northfield Courier",
        "en",
        THEMES["news"],
        ["News", "Sport", "Heritage", "Money", "Opinion", "What's on"],
        "/{section}/{yyyy}/{mm}/{slug}",
        {"local": "news", "sports": "sport", "history": "heritage", "finance": "money"},
        server="nginx/1.24.0",
        charset_label="UTF-8",
    ),
    "allotment": Site(
        "allotment-table.example",
        "The Allotment Table",
        "en",
        THEMES["blog"],
        ["Recipes", "Garden diary", "Seasonal", "About me", "Contact"],
        "/{yyyy}/{mm}/{dd}/{slug}/",
        server="Apache/2.4.57 (Debian)",
    ),
    "bytes": Site(
        "www.bytes-and-beakers.example",
        "Bytes & Beakers",
        "en",
        THEMES["magazine"],
        ["Software", "Science", "Health", "Reviews", "Newsletter"],
        "/{section}/{slug}-{n}",
        {"software": "software", "science": "science", "health": "health"},
        server="cloudflare",
    ),
    "wanderlog": Site(
        "wanderlog.example",
        "Wanderlog",
        "en",
        THEMES["travel"],
        ["Destinations", "Itineraries", "Budget travel", "Photo diary", "About"],
        "/posts/{slug}.html",
    ),
    "newsbeat": Site(
        "www.newsbeat-hub.example",
        "Newsbeat Hub",
        "en",
        THEMES["aggregator"],
        ["Top stories", "Local", "Lifestyle", "Tech", "Partners"],
        "/partners/{n}/{slug}",
    ),
    "mirror": Site(
        "content-mirror.example",
        "Content Mirror",
        "en",
        THEMES["legacy"],
        ["Home", "Latest", "Popular", "Archive"],
        "/p/{n}/{slug}",
        server="Apache",
    ),
    "tagblatt": Site(
        "www.nordheimer-tagblatt.example",
        "Nordheimer Tagblatt",
        "de",
        THEMES["news"],
        ["Lokales", "Freizeit", "Genuss", "Wetter", "Kontakt"],
        "/{section}/artikel/{slug}-{n}.html",
        {"lokales": "lokales", "wandern": "freizeit", "kochen": "genuss"},
        server="Apache/2.4.57",
    ),
    "quotidien": Site(
        "www.le-petit-quotidien.example",
        "Le Petit Quotidien",
        "fr",
        THEMES["magazine"],
        ["Actualités", "Cuisine", "Voyages", "Culture", "Contact"],
        "/{section}/{slug}/",
        {"vie-locale": "actualites", "cuisine": "cuisine", "voyage": "voyages"},
    ),
    "diario": Site(
        "www.diario-del-valle.example",
        "Diario del Valle",
        "es",
        THEMES["blog"],
        ["Portada", "Viajes", "Cocina", "Opinión", "Contacto"],
        "/{section}/{yyyy}/{slug}",
        {"viajes": "viajes", "cocina": "cocina"},
    ),
}

TOPIC_SITES = {
    "local": "courier",
    "sports": "courier",
    "history": "courier",
    "finance": "courier",
    "gardening": "allotment",
    "cooking": "allotment",
    "software": "bytes",
    "science": "bytes",
    "health": "bytes",
    "travel": "wanderlog",
    "lokales": "tagblatt",
    "wandern": "tagblatt",
    "kochen": "tagblatt",
    "vie-locale": "quotidien",
    "cuisine": "quotidien",
    "voyage": "quotidien",
    "viajes": "diario",
    "cocina": "diario",
}

SYNDICATION_PREFIXES = ["Syndicated: ", "From our partners: ", "Reposted: ", "Partner content: "]


@dataclass(frozen=True)
class Locale:
    byline: str
    related: str
    comments: str
    cookie: str
    accept: str
    manage: str
    rights: str
    privacy: str
    imprint: str
    contact: str
    months: tuple[str, ...]
    date_format: str


LOCALES = {
    "en": Locale(
        "By",
        "Related articles",
        "Comments",
        "We use cookies to improve your experience.",
        "Accept all",
        "Manage settings",
        "All rights reserved.",
        "Privacy policy",
        "Imprint",
        "Contact",
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        "{day} {month} {year}",
    ),
    "de": Locale(
        "Von",
        "Ähnliche Artikel",
        "Kommentare",
        "Wir verwenden Cookies, um Ihr Nutzungserlebnis zu verbessern.",
        "Alle akzeptieren",
        "Einstellungen verwalten",
        "Alle Rechte vorbehalten.",
        "Datenschutzerklärung",
        "Impressum",
        "Kontakt",
        (
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
        "{day}. {month} {year}",
    ),
    "fr": Locale(
        "Par",
        "Articles similaires",
        "Commentaires",
        "Nous utilisons des cookies pour améliorer votre expérience.",
        "Tout accepter",
        "Gérer les paramètres",
        "Tous droits réservés.",
        "Politique de confidentialité",
        "Mentions légales",
        "Contact",
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        "{day} {month} {year}",
    ),
    "es": Locale(
        "Por",
        "Artículos relacionados",
        "Comentarios",
        "Utilizamos cookies para mejorar su experiencia.",
        "Aceptar todo",
        "Gestionar ajustes",
        "Todos los derechos reservados.",
        "Política de privacidad",
        "Aviso legal",
        "Contacto",
        (
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
        "{day} de {month} de {year}",
    ),
}

# ---------------------------------------------------------------------------------------
# Composing articles
# ---------------------------------------------------------------------------------------

Block = tuple  # ("p", [sentences]) | ("ul", [items]) | ("table", caption, header, rows)


@dataclass
class Article:
    topic: Topic
    title: str
    author: str
    published: dt.date
    fixed: dict[str, str]
    templates: list[str]
    blocks: list[Block]


def fill(template: str, fixed: dict[str, str], slots: dict[str, list[str]], rng) -> str:
    """Fill ``{slot}`` placeholders (fixed values first, else a seeded choice); capitalise."""

    def choose(match: re.Match) -> str:
        key = match.group(1)
        return fixed[key] if key in fixed else rng.choice(slots[key])

    text = SLOT_PATTERN.sub(choose, template)
    return text[:1].upper() + text[1:]


def topic_slots(topic: Topic) -> dict[str, list[str]]:
    return {**COMMON_SLOTS[topic.lang], **topic.slots}


def pick_templates(topic: Topic, rng: random.Random, share: float) -> list[str]:
    """A shuffled share of the bank, led by a sentence naming the article's subject."""
    templates = list(topic.sentences)
    rng.shuffle(templates)
    if topic.anchor:
        marker = "{" + topic.anchor + "}"
        lead = next((t for t in templates if marker in t), None)
        if lead is not None:
            templates.remove(lead)
            templates.insert(0, lead)
    return templates[: max(8, round(len(templates) * share))]


def paragraph_sizes(total: int, rng: random.Random) -> list[int]:
    """Split ``total`` sentences into 4-10 paragraphs of 2-5 sentences (may use fewer)."""
    count = rng.randint(4, max(4, min(10, total // 2)))
    sizes = [2] * count
    for _ in range(min(total - 2 * count, 3 * count)):
        open_slots = [i for i, size in enumerate(sizes) if size < 5]
        sizes[rng.choice(open_slots)] += 1
    return sizes


def table_block(table: Table, rng: random.Random) -> Block:
    rows = [[label, *(str(rng.randint(lo, hi)) for lo, hi in table.ranges)] for label in table.rows]
    return ("table", table.caption, table.header, rows)


def add_extras(blocks: list[Block], topic: Topic, rng: random.Random) -> None:
    """Sometimes insert the topic's bullet list (with its intro) or its table."""
    if topic.bullets and rng.random() < 0.4:
        intro, items = topic.bullets
        chosen = rng.sample(items, k=min(len(items), rng.randint(4, 6)))
        position = rng.randint(1, len(blocks) - 1)
        blocks[position:position] = [("p", [intro]), ("ul", chosen)]
    if topic.table and rng.random() < 0.3:
        blocks.insert(rng.randint(1, len(blocks) - 1), table_block(topic.table, rng))


def compose_article(
    topic: Topic,
    rng: random.Random,
    title_template: str,
    anchor: str | None = None,
    share: float = 0.6,
) -> Article:
    slots = topic_slots(topic)
    fixed = {"town": rng.choice(slots["town"])}  # one town per article keeps it coherent
    if topic.anchor and anchor:
        fixed[topic.anchor] = anchor
    title = fill(title_template, fixed, slots, rng)
    author = rng.choice(slots["name"])
    published = FIRST_PUBLISHED + dt.timedelta(days=rng.randrange(450))
    templates = pick_templates(topic, rng, share)
    blocks: list[Block] = []
    start = 0
    for size in paragraph_sizes(len(templates), rng):
        group = templates[start : start + size]
        blocks.append(("p", [fill(t, fixed, slots, rng) for t in group]))
        start += size
    add_extras(blocks, topic, rng)
    return Article(topic, title, author, published, fixed, templates[:start], blocks)


def rewrite_sentences(article: Article, rng: random.Random, count: int) -> Article:
    """A near copy: ``count`` sentences replaced by unused sentences from the same bank."""
    spare = [t for t in article.topic.sentences if t not in article.templates]
    slots = topic_slots(article.topic)
    blocks = [("p", list(block[1])) if block[0] == "p" else block for block in article.blocks]
    positions = [
        (b, s)
        for b, block in enumerate(blocks)
        if block[0] == "p" and len(block[1]) > 1
        for s in range(len(block[1]))
    ]
    replacements = rng.sample(spare, count)
    for (b, s), template in zip(rng.sample(positions, count), replacements, strict=True):
        blocks[b][1][s] = fill(template, article.fixed, slots, rng)
    return replace(article, blocks=blocks)


# ---------------------------------------------------------------------------------------
# HTML rendering
# ---------------------------------------------------------------------------------------


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def slugify(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:70].rstrip("-")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def display_date(date: dt.date, locale: Locale) -> str:
    month = locale.months[date.month - 1]
    return locale.date_format.format(day=date.day, month=month, year=date.year)


def render_head(title: str, url: str, description: str, charset: str | None, theme: Theme) -> str:
    meta = [f'<meta charset="{charset}">'] if charset else []
    return "\n".join(
        [
            "<head>",
            *meta,
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            f'<meta name="description" content="{attr(description)}">',
            f'<link rel="canonical" href="{attr(url)}">',
            f'<link rel="stylesheet" href="/assets/{theme.name}.css">',
            f'<script>window.siteConfig = {{theme: "{theme.name}", consent: false}};</script>',
            '<script src="/assets/app.js" defer></script>',
            "</head>",
        ]
    )


def render_header(site: Site) -> str:
    theme = site.theme
    links = [(label, f"/{slugify(label)}/") for label in site.menu]
    if theme.nav_list:
        items = "".join(f'<li><a href="{href}">{esc(label)}</a></li>' for label, href in links)
        menu = f"<ul>{items}</ul>"
    else:
        menu = " | ".join(f'<a href="{href}">{esc(label)}</a>' for label, href in links)
    outer, nav = ("header", "nav") if theme.semantic else ("div", "div")
    return "\n".join(
        [
            f'<{outer} class="{theme.header}">',
            f'<a class="logo" href="/">{esc(site.name)}</a>',
            f'<{nav} class="{theme.nav}">{menu}</{nav}>',
            f"</{outer}>",
        ]
    )


def render_block(block: Block) -> str:
    match block:
        case ("p", sentences):
            return f"<p>{esc(' '.join(sentences))}</p>"
        case ("ul", items):
            return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"
        case ("table", caption, header, rows):
            head = "".join(f"<th>{esc(cell)}</th>" for cell in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
            )
            return (
                f'<table class="data"><caption>{esc(caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
    raise ValueError(f"unknown block {block[0]!r}")


def render_article(article: Article, theme: Theme, locale: Locale) -> str:
    date = article.published
    byline = (
        f'<p class="byline">{locale.byline} {esc(article.author)} · '
        f'<time datetime="{date.isoformat()}">{display_date(date, locale)}</time></p>'
    )
    return "\n".join(
        [
            f'<article class="{theme.article}">',
            f"<h1>{esc(article.title)}</h1>",
            byline,
            *map(render_block, article.blocks),
            "</article>",
        ]
    )


def render_sidebar(related: list[tuple[str, str]], theme: Theme, locale: Locale) -> str:
    tag = "aside" if theme.semantic else "div"
    items = "".join(
        f'<li><a href="{attr(path_of(url))}">{esc(title)}</a></li>' for url, title in related
    )
    return f'<{tag} class="{theme.sidebar}">\n<h2>{locale.related}</h2>\n<ul>{items}</ul>\n</{tag}>'


def render_comments(comments: list[tuple[str, str]], theme: Theme, locale: Locale) -> str:
    item_tag = "li" if theme.comments_list else "div"
    items = [
        f'<{item_tag} class="{theme.comment}"><p class="comment-author">{esc(author)}</p>'
        f"<p>{esc(text)}</p></{item_tag}>"
        for author, text in comments
    ]
    if theme.comments_list:
        items = ["<ol>", *items, "</ol>"]
    return "\n".join(
        [
            '<section class="comments">',
            f"<h2>{locale.comments} ({len(comments)})</h2>",
            *items,
            "</section>",
        ]
    )


def render_cookie_banner(theme: Theme, locale: Locale) -> str:
    return (
        f'<div class="{theme.cookie}" id="cookie-banner" role="dialog"><p>{esc(locale.cookie)}</p>'
        f'<button type="button" class="accept">{esc(locale.accept)}</button> '
        f'<button type="button" class="settings">{esc(locale.manage)}</button></div>'
    )


def render_footer(site: Site, locale: Locale) -> str:
    tag = "footer" if site.theme.semantic else "div"
    links = " · ".join(
        [
            f'<a href="/privacy">{esc(locale.privacy)}</a>',
            f'<a href="/imprint">{esc(locale.imprint)}</a>',
            f'<a href="/contact">{esc(locale.contact)}</a>',
        ]
    )
    return (
        f'<{tag} class="{site.theme.footer}">\n<p>© 2024 {esc(site.name)}. {esc(locale.rights)}</p>'
        f"\n<p>{links}</p>\n</{tag}>"
    )


def render_article_page(
    site: Site,
    article: Article,
    canonical: str,
    charset: str | None,
    related: list[tuple[str, str]],
    comments: list[tuple[str, str]],
) -> str:
    theme, locale = site.theme, LOCALES[site.lang]
    description = next(block[1][0] for block in article.blocks if block[0] == "p")
    main = [render_article(article, theme, locale), render_sidebar(related, theme, locale)]
    if theme.sidebar_first:
        main.reverse()
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{site.lang}">',
            render_head(f"{article.title} | {site.name}", canonical, description, charset, theme),
            f'<body class="{theme.body}">',
            render_header(site),
            f'<div class="{theme.main}">',
            *main,
            "</div>",
            render_comments(comments, theme, locale),
            render_cookie_banner(theme, locale),
            render_footer(site, locale),
            "</body>",
            "</html>",
            "",
        ]
    )


def render_bare_page(title: str, body: str, head_extra: str = "", lang: str = "en") -> str:
    """A minimal page, for spam and error pages that use no site template."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{lang}">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            *([head_extra] if head_extra else []),
            "</head>",
            "<body>",
            body,
            "</body>",
            "</html>",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------
# Spam and low-quality pages: each builder returns (title, body html, extra head html)
# ---------------------------------------------------------------------------------------

SpamPage = tuple[str, str, str]


def keyword_stuffing(rng: random.Random, keywords: list[str], heading: str) -> SpamPage:
    phrase = heading.lower()
    lines_ = [
        " ".join([phrase, *rng.sample(keywords, 4), rng.choice(SPAM_SUFFIXES)]) for _ in range(24)
    ]
    paragraphs = "\n".join(f"<p>{esc(line)}</p>" for line in lines_)
    hidden = esc(" ".join(keywords * 6))
    body = "\n".join(
        [
            f"<h1>{esc(heading.upper())}</h1>",
            paragraphs,
            f'<div style="display:none">{hidden}</div>',
            '<p><a href="/order">BUY NOW</a> <a href="/order">ORDER NOW</a></p>',
        ]
    )
    head = f'<meta name="keywords" content="{attr(", ".join(keywords))}">'
    return f"{heading} | {heading} Online", body, head


def link_directory(rng: random.Random) -> SpamPage:
    categories = [
        f'<li><a href="/dir/{slugify(name)}/">{esc(name)}</a></li>' for name in DIRECTORY_CATEGORIES
    ]
    pages = " ".join(f'<a href="/dir/page-{n}/">{n}</a>' for n in range(1, 31))
    partners = "".join(
        f'<li><a href="https://partner-{n}.example/">Partner site {n}</a></li>'
        for n in sorted(rng.sample(range(100, 999), 12))
    )
    body = "\n".join(
        [
            "<h1>Business Directory - All Categories</h1>",
            f"<ul>{''.join(categories)}</ul>",
            f"<p>{pages}</p>",
            f"<ul>{partners}</ul>",
        ]
    )
    return "Business Directory - All Categories", body, ""


def navigation_only(rng: random.Random) -> SpamPage:
    menu = ["Home", "News", "Blog", "Shop", "Forum", "Events", "Gallery", "About", "Contact"]
    nav = "".join(f'<li><a href="/{slugify(item)}/">{item}</a></li>' for item in menu)
    months = LOCALES["en"].months
    archive = "".join(
        f'<li><a href="/2023/{n:02d}/">{months[n - 1]} 2023</a></li>' for n in range(1, 13)
    )
    last = rng.randint(40, 60)
    pager = " ".join(f'<a href="/2023/03/page/{n}/">{n}</a>' for n in range(1, 6))
    body = "\n".join(
        [
            f'<nav class="top"><ul>{nav}</ul></nav>',
            '<p class="breadcrumb"><a href="/">Home</a> › <a href="/archive/">Archive</a></p>',
            "<h1>Archive: March 2023</h1>",
            f'<nav class="archive"><ul>{archive}</ul></nav>',
            f'<nav class="pager">« Previous {pager} … <a href="/2023/03/page/{last}/">{last}</a>'
            ' <a href="/2023/03/page/2/">Next »</a></nav>',
            f"<footer><ul>{nav}</ul></footer>",
        ]
    )
    return "Archive: March 2023", body, ""


def lorem_ipsum(rng: random.Random) -> SpamPage:
    def sentence() -> str:
        words = rng.choices(LOREM_TEXT.split(), k=rng.randint(7, 15))
        return " ".join(words).capitalize() + "."

    paragraphs = [
        " ".join(sentence() for _ in range(rng.randint(4, 7))) for _ in range(rng.randint(5, 7))
    ]
    paragraphs[0] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + paragraphs[0]
    body = "\n".join(["<h1>Sample Page</h1>", *(f"<p>{p}</p>" for p in paragraphs)])
    return "Sample Page - Lorem Demo Theme", body, ""


def almost_empty(rng: random.Random) -> SpamPage:
    return "Coming soon", "<h1>Coming soon</h1>\n<p>Stay tuned.</p>", ""


def javascript_dump(rng: random.Random) -> SpamPage:
    code = [
        rng.choice(JS_TEMPLATES).format(**{k: rng.choice(v) for k, v in JS_NAMES.items()})
        for _ in range(40)
    ]
    body = "\n".join(
        [
            "<h1>Home</h1>",
            '<div class="post-body">',
            *(f"<p>{esc(line)}</p>" for line in code),
            "</div>",
        ]
    )
    return "Home", body, ""


def repeated_lines(rng: random.Random) -> SpamPage:
    repeats = rng.randint(18, 24)
    body = "\n".join([f"<p>{esc(line)}</p>" for _ in range(repeats) for line in PRIZE_LINES])
    return "You are a winner!", "<h1>You are a winner!</h1>\n" + body, ""


def doorway_cities(rng: random.Random) -> SpamPage:
    cities = rng.sample(DOORWAY_CITIES, len(DOORWAY_CITIES))
    paragraphs = [
        f"<p>Best emergency plumber in {city}. Cheap plumber {city}, open 24 hours. "
        f"Call now for a plumber near me in {city}.</p>"
        for city in cities
    ]
    body = "<h1>Plumber Near Me - All Locations</h1>\n" + "\n".join(paragraphs)
    return "Plumber Near Me - Cheap Emergency Plumber 24/7", body, ""


class SpamSpec(NamedTuple):
    kind: str
    url: str
    build: Callable[[random.Random], SpamPage]


SPAM_PAGES = [
    SpamSpec(
        "keyword_stuffing",
        "https://www.cheap-watches-best-price.example/",
        partial(
            keyword_stuffing, keywords=WATCH_KEYWORDS, heading="Cheap Watches Best Price Buy Now"
        ),
    ),
    SpamSpec(
        "keyword_stuffing",
        "https://fast-loans-today.example/apply",
        partial(keyword_stuffing, keywords=LOAN_KEYWORDS, heading="Fast Loans Bad Credit OK"),
    ),
    SpamSpec(
        "keyword_stuffing",
        "https://miracle-diet-pills.example/",
        partial(keyword_stuffing, keywords=DIET_KEYWORDS, heading="Lose Weight Fast Diet Pills"),
    ),
    SpamSpec("link_list", "https://www.business-directory-hub.example/categories/", link_directory),
    SpamSpec("navigation_only", "https://www.portal-archive.example/2023/03/", navigation_only),
    SpamSpec("lorem_ipsum", "https://lorem-demo-theme.example/sample-page/", lorem_ipsum),
    SpamSpec("almost_no_text", "https://new-venture-site.example/", almost_empty),
    SpamSpec("javascript_text", "https://www.broken-cms.example/index.php?p=home", javascript_dump),
    SpamSpec("repeated_lines", "https://prize-claim-now.example/winner", repeated_lines),
    SpamSpec("doorway", "https://plumber-near-me-247.example/locations/", doorway_cities),
]

# ---------------------------------------------------------------------------------------
# Fictional personal data with valid checksums
# ---------------------------------------------------------------------------------------


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:  # doubled once the check digit is appended on the right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits, printed in groups of four."""
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    raw = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def pii_values() -> dict[str, str]:
    card = "411111111111111"  # the well-known Visa test number
    card += luhn_check_digit(card)
    return {
        "card": " ".join(card[i : i + 4] for i in range(0, 16, 4)),
        "iban_gb": iban("GB", "WEST12345698765432"),  # the standard documentation example
        "iban_de": iban("DE", "370400440532013000"),
    }


# ---------------------------------------------------------------------------------------
# Binary payloads
# ---------------------------------------------------------------------------------------


def make_png(width: int = 8, height: int = 8) -> bytes:
    """A small RGB gradient as a valid PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 32, y * 32, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(rows, 9)),
            chunk(b"IEND", b""),
        ]
    )


def make_pdf(text_lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with Helvetica text and a correct cross-reference table."""
    shown = " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in text_lines
    )
    stream = f"BT /F1 12 Tf 72 740 Td 18 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Planning pages
# ---------------------------------------------------------------------------------------


@dataclass
class PlannedArticle:
    """An article page before rendering (related links need every page of the site)."""

    site: Site
    article: Article
    url: str
    category: str
    kind: str
    duplicate_of: str | None = None
    canonical: str | None = None
    encoding: str = "utf-8"
    header_charset: str | None = "utf-8"  # None: Content-Type without charset
    meta_charset: str | None = "utf-8"  # None: no <meta charset>
    truncate: bool = False


@dataclass
class Page:
    """One HTTP response as it goes into the WARC."""

    url: str
    body: bytes
    category: str
    kind: str
    lang: str | None
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    truncate_to: int | None = None
    duplicate_of: str | None = None
    server: str = "nginx"


class SpecialArticle(NamedTuple):
    kind: str
    topic: str
    title: str
    encoding: str
    header_charset: str | None
    meta_charset: str | None
    truncate: bool = False


SPECIAL_ARTICLES = [
    SpecialArticle(
        "latin1_labelled",
        "cuisine",
        "Les crêpes de la Chandeleur, simples et rapides",
        "iso-8859-1",
        "iso-8859-1",
        "iso-8859-1",
    ),
    SpecialArticle(
        "latin1_mislabelled_as_utf8",
        "kochen",
        "Zwetschgendatschi wie vom Bäcker",
        "iso-8859-1",
        "utf-8",
        "utf-8",
    ),
    SpecialArticle(
        "utf8_without_charset",
        "viajes",
        "¿Merece la pena viajar en temporada baja?",
        "utf-8",
        None,
        None,
    ),
    SpecialArticle(
        "truncated",
        "science",
        "Tracking {subject} with a network of cheap sensors",
        "utf-8",
        "utf-8",
        "utf-8",
        truncate=True,
    ),
]


def article_url(site: Site, article: Article, number: int) -> str:
    date = article.published
    path = site.url_pattern.format(
        section=site.sections.get(article.topic.name, "article"),
        slug=slugify(article.title),
        yyyy=f"{date.year}",
        mm=f"{date.month:02d}",
        dd=f"{date.day:02d}",
        n=number,
    )
    return f"https://{site.domain}{path}"


def plan_topic(topic: Topic, counter: Iterator[int]) -> list[PlannedArticle]:
    site = SITES[TOPIC_SITES[topic.name]]
    count = len(topic.titles)
    anchors = make_rng("anchors", topic.name).sample(topic.anchors, count) if topic.anchor else []
    planned = []
    for index, title in enumerate(topic.titles):
        anchor = anchors[index] if anchors else None
        article = compose_article(topic, make_rng("article", topic.name, index), title, anchor)
        url = article_url(site, article, next(counter))
        planned.append(PlannedArticle(site, article, url, "article", "regular"))
    return planned


def plan_near_duplicates(
    sources: list[PlannedArticle], counter: Iterator[int]
) -> list[PlannedArticle]:
    """Syndicated copies on another site: a headline prefix and one or two changed sentences."""
    site = SITES["newsbeat"]
    planned = []
    for index, source in enumerate(sources):
        rng = make_rng("syndicated", index)
        edited = rewrite_sentences(source.article, rng, count=1 + index % 2)
        prefix = SYNDICATION_PREFIXES[index % len(SYNDICATION_PREFIXES)]
        article = replace(
            edited,
            title=prefix + edited.title,
            author=f"{edited.author} ({source.site.name})",
        )
        url = article_url(site, article, next(counter))
        planned.append(
            PlannedArticle(site, article, url, "near_duplicate", "syndicated", source.url)
        )
    return planned


def plan_exact_duplicates(
    sources: list[PlannedArticle], counter: Iterator[int]
) -> list[PlannedArticle]:
    """Identical article text: two alternate URLs on the same site, two on a mirror site."""
    planned = []
    for source, suffix in zip(sources[:2], ["?output=print", "?amp=1"], strict=True):
        planned.append(
            replace(
                source,
                url=source.url + suffix,
                category="exact_duplicate",
                kind="alternate_url",
                duplicate_of=source.url,
                canonical=source.url,
            )
        )
    mirror = SITES["mirror"]
    for source in sources[2:]:
        url = article_url(mirror, source.article, next(counter))
        planned.append(
            replace(
                source,
                site=mirror,
                url=url,
                category="exact_duplicate",
                kind="mirrored",
                duplicate_of=source.url,
            )
        )
    return planned


def plan_pii_articles(counter: Iterator[int]) -> list[PlannedArticle]:
    values = pii_values()
    planned = []
    for index, (heading, paragraphs) in enumerate(parse_sections(PII_TEXT)):
        topic_name, title, *flags = (part.strip() for part in heading.split("|"))
        topic = TOPICS[topic_name]
        rng = make_rng("pii", index)
        article = compose_article(topic, rng, title, rng.choice(topic.anchors), share=0.45)
        blocks = [("p", [text.format_map(values)]) for text in paragraphs]
        last = len(article.blocks)
        position = last if "at end" in flags else rng.randint(1, last - 1)
        article.blocks[position:position] = blocks
        site = SITES[TOPIC_SITES[topic.name]]
        url = article_url(site, article, next(counter))
        planned.append(PlannedArticle(site, article, url, "pii", "contact_details"))
    return planned


def plan_special_articles(counter: Iterator[int]) -> list[PlannedArticle]:
    planned = []
    for index, spec in enumerate(SPECIAL_ARTICLES):
        topic = TOPICS[spec.topic]
        rng = make_rng("special", index)
        anchor = rng.choice(topic.anchors) if topic.anchor else None
        article = compose_article(topic, rng, spec.title, anchor)
        site = SITES[TOPIC_SITES[topic.name]]
        url = article_url(site, article, next(counter))
        planned.append(
            PlannedArticle(
                site,
                article,
                url,
                "special",
                spec.kind,
                encoding=spec.encoding,
                header_charset=spec.header_charset,
                meta_charset=spec.meta_charset,
                truncate=spec.truncate,
            )
        )
    return planned


def pick_comments(lang: str, rng: random.Random) -> list[tuple[str, str]]:
    count = rng.randint(2, 5) if lang == "en" else rng.randint(1, 3)
    texts = rng.sample(COMMENTS[lang], count)
    return [(rng.choice(COMMENTERS[lang]), text) for text in texts]


def render_planned(planned: list[PlannedArticle]) -> list[Page]:
    by_site: dict[str, list[PlannedArticle]] = defaultdict(list)
    for item in planned:
        by_site[item.site.domain].append(item)
    pages = []
    for item in planned:
        rng = make_rng("render", item.url)
        others = [(p.url, p.article.title) for p in by_site[item.site.domain] if p is not item]
        related = rng.sample(others, min(5, len(others)))
        markup = render_article_page(
            item.site,
            item.article,
            item.canonical or item.url,
            item.meta_charset,
            related,
            pick_comments(item.site.lang, rng),
        )
        body = markup.encode(item.encoding)  # strict: Latin-1 pages must really be Latin-1
        label = item.site.charset_label if item.header_charset == "utf-8" else item.header_charset
        pages.append(
            Page(
                url=item.url,
                body=body,
                category=item.category,
                kind=item.kind,
                lang=item.site.lang,
                content_type=f"text/html; charset={label}" if label else "text/html",
                truncate_to=len(body) * 11 // 20 if item.truncate else None,
                duplicate_of=item.duplicate_of,
                server=item.site.server,
            )
        )
    return pages


def spam_pages() -> list[Page]:
    pages = []
    for index, spec in enumerate(SPAM_PAGES):
        title, body, head = spec.build(make_rng("spam", index))
        markup = render_bare_page(title, body, head)
        pages.append(Page(spec.url, markup.encode("utf-8"), "spam", spec.kind, "en"))
    return pages


def special_responses(redirect_target: str) -> list[Page]:
    """Non-article responses: an error page, a redirect, an image and a PDF."""
    not_found = render_bare_page(
        "Page not found | Bytes & Beakers",
        "<h1>404 - Page not found</h1>\n"
        "<p>Sorry, we could not find the page you were looking for. It may have moved.</p>\n"
        '<p><a href="/">Back to the homepage</a></p>',
    )
    moved = render_bare_page(
        "301 Moved Permanently",
        f'<h1>Moved Permanently</h1>\n<p>The document has moved <a href="{attr(redirect_target)}">'
        "here</a>.</p>",
    )
    courier, bytes_, wanderlog = (SITES[k].domain for k in ("courier", "bytes", "wanderlog"))
    return [
        Page(
            f"https://{bytes_}/software/an-old-post-that-was-removed",
            not_found.encode("utf-8"),
            "special",
            "http_404",
            "en",
            status=404,
            server="cloudflare",
        ),
        Page(
            f"http://{courier}/story.php?id=4471",
            moved.encode("utf-8"),
            "special",
            "redirect_301",
            "en",
            status=301,
            content_type="text/html; charset=iso-8859-1",
            headers=[("Location", redirect_target)],
            duplicate_of=redirect_target,
            server="nginx/1.24.0",
        ),
        Page(
            f"https://{wanderlog}/images/logo-small.png",
            make_png(),
            "special",
            "image_png",
            None,
            content_type="image/png",
        ),
        Page(
            f"https://{courier}/documents/annual-report-2023.pdf",
            make_pdf(PDF_LINES),
            "special",
            "pdf",
            "en",
            content_type="application/pdf",
            server="nginx/1.24.0",
        ),
    ]


def build_pages() -> list[Page]:
    counter = itertools.count(1001)
    originals = [item for topic in TOPICS.values() for item in plan_topic(topic, counter)]
    english = [item for item in originals if item.site.lang == "en"]
    picks = make_rng("duplicates").sample(english, 14)
    planned = [
        *originals,
        *plan_near_duplicates(picks[:10], counter),
        *plan_exact_duplicates(picks[10:], counter),
        *plan_pii_articles(counter),
        *plan_special_articles(counter),
    ]
    redirect_target = next(item.url for item in originals if item.site is SITES["courier"])
    return [*render_planned(planned), *spam_pages(), *special_responses(redirect_target)]


# ---------------------------------------------------------------------------------------
# Writing WARC records
# ---------------------------------------------------------------------------------------


class RecordIds:
    """``<urn:uuid:...>`` record ids derived from a counter, so they never change."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"<urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, f'record-{self.count}')}>"


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def warc_record(
    warc_type: str,
    moment: dt.datetime,
    record_id: str,
    content_type: str,
    block: bytes,
    extra: list[tuple[str, str]],
) -> bytes:
    headers = [
        ("WARC-Type", warc_type),
        ("WARC-Date", warc_date(moment)),
        ("WARC-Record-ID", record_id),
        ("Content-Length", str(len(block))),
        ("Content-Type", content_type),
        *extra,
    ]
    return format_record(headers, block)


def warcinfo_block(filename: str) -> bytes:
    fields = [
        ("software", "tokenmill data/make_sample.py"),
        ("format", "WARC File Format 1.0"),
        (
            "conformsTo",
            "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/",
        ),
        ("isPartOf", "tokenmill-sample"),
        ("description", f"{filename}: synthetic pages written for tokenmill, not a real crawl"),
        ("robots", "classic"),
        ("http-header-user-agent", USER_AGENT),
    ]
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode("utf-8")


def http_request(url: str) -> bytes:
    parts = urlsplit(url)
    request_lines = [
        f"GET {path_of(url) or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"User-Agent: {USER_AGENT}",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        "Connection: close",
    ]
    return ("\r\n".join(request_lines) + "\r\n\r\n").encode("ascii")


def http_response(page: Page, moment: dt.datetime) -> tuple[bytes, bytes]:
    """The HTTP block and its payload (cut short when the page is to be truncated)."""
    status = HTTPStatus(page.status)
    header_lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Date: {format_datetime(moment, usegmt=True)}",
        f"Server: {page.server}",
        f"Content-Type: {page.content_type}",
        f"Content-Length: {len(page.body)}",
        *(f"{name}: {value}" for name, value in page.headers),
        "Connection: close",
    ]
    payload = page.body if page.truncate_to is None else page.body[: page.truncate_to]
    return ("\r\n".join(header_lines) + "\r\n\r\n").encode("ascii") + payload, payload


def ip_address(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return f"192.0.2.{hashlib.sha1(host.encode()).digest()[0] % 250 + 2}"


def page_records(
    page: Page, moment: dt.datetime, ids: RecordIds, warcinfo_id: str
) -> tuple[bytes, bytes]:
    """The request and response records of one page."""
    request_id, response_id = ids.next(), ids.next()
    common = [("WARC-Warcinfo-ID", warcinfo_id), ("WARC-IP-Address", ip_address(page.url))]
    request_block = http_request(page.url)
    request = warc_record(
        "request",
        moment,
        request_id,
        "application/http; msgtype=request",
        request_block,
        [
            *common,
            ("WARC-Target-URI", page.url),
            ("WARC-Block-Digest", sha1_digest(request_block)),
        ],
    )
    response_block, payload = http_response(page, moment)
    response_extra = [
        *common,
        ("WARC-Concurrent-To", request_id),
        ("WARC-Target-URI", page.url),
        ("WARC-Payload-Digest", sha1_digest(payload)),
        ("WARC-Block-Digest", sha1_digest(response_block)),
        ("WARC-Identified-Payload-Type", page.content_type.split(";")[0]),
    ]
    if page.truncate_to is not None:
        response_extra.append(("WARC-Truncated", "length"))
    response = warc_record(
        "response",
        moment,
        response_id,
        "application/http; msgtype=response",
        response_block,
        response_extra,
    )
    return request, response


def write_warc(path: Path, pages: list[Page], file_index: int, ids: RecordIds) -> list[dict]:
    """Write one WARC file; return a manifest row per response record."""
    start = CRAWL_START + dt.timedelta(hours=file_index)
    warcinfo_id = ids.next()
    info = warc_record(
        "warcinfo",
        start,
        warcinfo_id,
        "application/warc-fields",
        warcinfo_block(path.name),
        [("WARC-Filename", path.name)],
    )
    members = [gzip_member(info)]
    offset = len(members[0])
    manifest = []
    for index, page in enumerate(pages, start=1):
        moment = start + dt.timedelta(seconds=7 * index)
        request, response = map(gzip_member, page_records(page, moment, ids, warcinfo_id))
        offset += len(request)
        manifest.append(manifest_row(path.name, offset, len(response), page))
        offset += len(response)
        members += [request, response]
    path.write_bytes(b"".join(members))
    return manifest


def manifest_row(filename: str, offset: int, length: int, page: Page) -> dict:
    return {
        "file": filename,
        "offset": offset,
        "length": length,
        "url": page.url,
        "category": page.category,
        "kind": page.kind,
        "lang": page.lang,
        "status": page.status,
        "content_type": page.content_type,
        "truncated": page.truncate_to is not None,
        "duplicate_of": page.duplicate_of,
    }


def robots_pages() -> list[Page]:
    """The robots.txt files of four of the sites, as Common Crawl captures them beside a
    segment's pages (its `robotstxt/` files): the consent stage reads what they say to AI
    crawlers."""
    rules = {
        "courier": "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /admin/\n",
        "quotidien": "User-agent: Google-Extended\nUser-agent: CCBot\nDisallow: /\n",
        "allotment": "User-agent: *\nDisallow:\n",
    }
    pages = [
        Page(f"https://{SITES[key].domain}/robots.txt", text.encode(), "robots", "rules", None)
        for key, text in rules.items()
    ]
    missing = f"https://{SITES['wanderlog'].domain}/robots.txt"
    pages.append(Page(missing, b"Not Found\n", "robots", "missing", None, status=404))
    return [replace(page, content_type="text/plain; charset=utf-8") for page in pages]


def split_into_files(pages: list[Page], count: int) -> list[list[Page]]:
    shuffled = list(pages)
    make_rng("file-order").shuffle(shuffled)
    return [shuffled[index::count] for index in range(count)]


# ---------------------------------------------------------------------------------------
# wiki.jsonl, manifest.jsonl and README.md
# ---------------------------------------------------------------------------------------


def parse_sections(text: str) -> list[tuple[str, list[str]]]:
    """Split a text bank into ("# heading", paragraphs) sections; paragraphs are unwrapped."""
    articles = []
    for chunk in re.split(r"^# ", text.strip(), flags=re.MULTILINE):
        if not chunk.strip():
            continue
        title, _, rest = chunk.partition("\n")
        paragraphs = [prose(p) for p in re.split(r"\n\s*\n", rest) if p.strip()]
        articles.append((title.strip(), paragraphs))
    return articles


def near_copy(
    articles: list[tuple[str, list[str]]], source: str, title: str, edits: list[tuple[str, str]]
) -> tuple[str, list[str]]:
    paragraphs = next(body for name, body in articles if name == source)
    text = "\n\n".join(paragraphs)
    for old, new in edits:
        if old not in text:
            raise ValueError(f"near copy edit {old!r} not found in {source!r}")
        text = text.replace(old, new)
    return title, text.split("\n\n")


def wiki_entries() -> list[dict]:
    articles = parse_sections(WIKI_TEXT)
    articles.insert(WIKI_NEAR_COPY_POSITION, near_copy(articles, *WIKI_NEAR_COPY))
    return [
        {
            "id": f"wiki-{number:04d}",
            "url": WIKI_BASE + quote(title.replace(" ", "_"), safe="_()'"),
            "text": "\n\n".join([title, *paragraphs]),
        }
        for number, (title, paragraphs) in enumerate(articles, start=1)
    ]


HELD_OUT_PER_TOPIC = 2


def held_out_articles() -> list[dict]:
    """English articles on the crawl's topics, from sentences no page carries
    (held_out.yaml): a text every model `tokenmill ablate` trains is scored on. Paragraphs
    alone: the titles are the crawl's."""
    banks = yaml_file("held_out.yaml")
    rows = []
    for topic in ENGLISH_TOPICS:
        for index in range(HELD_OUT_PER_TOPIC):
            rng = make_rng("held-out", topic.name, index)
            anchor = rng.choice(topic.anchors) if topic.anchor else None
            unseen = replace(topic, sentences=banks[topic.name], bullets=None, table=None)
            article = compose_article(unseen, rng, rng.choice(topic.titles), anchor, share=0.8)
            paragraphs = [" ".join(block[1]) for block in article.blocks]
            rows.append(
                {
                    "id": f"held-out-{len(rows) + 1:04d}",
                    "text": "\n\n".join(paragraphs),
                }
            )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def count_table(manifest: list[dict]) -> str:
    counts = Counter((row["category"], row["kind"], row["lang"] or "-") for row in manifest)
    rows = [
        f"| {category} | {kind} | {lang} | {number} |"
        for (category, kind, lang), number in sorted(counts.items())
    ]
    return "\n".join(["| category | kind | lang | pages |", "|---|---|---|---|", *rows])


def render_readme(manifest: list[dict], wiki: list[dict]) -> str:
    values = pii_values()
    return README_TEMPLATE.format(
        pages=len(manifest),
        wiki=len(wiki),
        counts=count_table(manifest),
        card=values["card"],
        iban_gb=values["iban_gb"],
        iban_de=values["iban_de"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write tokenmill's synthetic sample data.")
    parser.add_argument(
        "outdir",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parent / "sample",
        help="output folder (default: data/sample next to this script)",
    )
    outdir = parser.parse_args(argv).outdir
    outdir.mkdir(parents=True, exist_ok=True)
    ids = RecordIds()
    manifest = []
    for index, pages in enumerate(split_into_files(build_pages(), WARC_FILE_COUNT)):
        manifest += write_warc(outdir / f"web-{index:03d}.warc.gz", pages, index, ids)
    (outdir / "robotstxt").mkdir(exist_ok=True)
    write_warc(outdir / "robotstxt" / "robots-000.warc.gz", robots_pages(), WARC_FILE_COUNT, ids)
    wiki = wiki_entries()
    write_jsonl(outdir / "manifest.jsonl", manifest)
    write_jsonl(outdir / "wiki.jsonl", wiki)
    write_jsonl(outdir / "held-out.jsonl", held_out_articles())
    (outdir / "README.md").write_text(render_readme(manifest, wiki), encoding="utf-8")
    print(f"wrote {len(manifest)} pages in {WARC_FILE_COUNT} WARC files and {len(wiki)} wiki")
    print(f"articles to {outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

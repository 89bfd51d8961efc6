"""The `tokenmill` extraction engine: main text by block scoring on a lexbor DOM.

selectolax's lexbor parser is fast and its nodes are cheap to visit from Python, so one
walk over the tree (lexbor's own, in document order) measures every block and every named
element, inline ones adding to their parent: its text, the part of it inside links, and
whether its class, id or ARIA role names it as boilerplate (navigation, cookie banners,
comments, share bars, related links; a teaser only when it links elsewhere). Frame tags
(nav, footer, aside, scripts, forms' controls) and hidden elements go first.
Boilerplate-named blocks, image boxes with a short legend, grids of teaser cards, forms and
link lists (a story card that is all link among them) are then cut unless one holds most of
the page's text (a wrapper named `has-sidebar` is not a sidebar, an ASP.NET page is one
form), each with the heading that titles it. Each paragraph votes with its unlinked text, and
the main text is the deepest element that still holds 85% of all votes: deep enough to leave
the page frame behind, high enough to keep an article that its template splits into several
boxes, with the lead paragraphs that its article's header holds apart from the body.
Headings and links it would end with go (trafilatura's "not at the end"). The page's <h1> is
kept as its title. Blocks become lines, list items `• ` lines, table cells are joined by ` | `.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

from selectolax.lexbor import LexborHTMLParser, LexborNode

# fmt: off
DROPPED_TAGS = frozenset({
    "script", "style", "template", "head", "iframe", "svg", "canvas", "object",
    "embed", "video", "audio", "map", "nav", "footer", "aside", "menu", "dialog", "button",
    "select", "input", "textarea", "label", "figure", "figcaption",
})
"""Never main text: code, media, form controls, image captions and the page's own frame.
(<noscript> is what a reader without scripts sees: blogs put whole posts there.)"""

BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "h1", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "pre", "blockquote", "figure",
    "address", "hr", "form", "fieldset", "details", "summary", "center",
})
"""Elements that start a new line; the rest run inline."""

LINK_LIST_TAGS = frozenset({
    "ul", "ol", "div", "section", "article", "header", "table", "dl", "p", "span",
    "h2", "h3", "h4", "h5", "h6",
})
"""Elements that are navigation when links hold most of their text (an <article> or <header>
too: another story's card in a list of them)."""
LIST_TITLES = frozenset({"h2", "h3", "h4", "h5", "h6"})
"""Headings that may title a list (the <h1> titles the page)."""
HEADINGS = LIST_TITLES | {"h1"}
NOT_AT_THE_END = LIST_TITLES | {"a"}
LEGEND_TAGS = frozenset({"div", "span", "section"})
"""Boxes that may hold an image and its legend (a paragraph or list item with an image is text)."""
# fmt: on

BOILERPLATE_NAMES = re.compile(
    r"a(?:dvert|d(?<![a-z0-9]ad)s?(?![a-z0-9])|uthor|vatar)|"
    r"b(?:anner|readcrumb|yline)|"
    r"c(?:aption|omment|onsent|ookie|opyright|redit)|"
    r"d(?:ate(?<![a-z0-9]date)s?(?![a-z0-9])|isqus)|"
    r"footer|gdpr|login|outbrain|"
    r"m(?:asthead|enu|eta(?<![a-z0-9]meta)(?![a-z0-9])|odal|ore-|ost-)|"
    r"n(?:av(?<![a-z0-9]nav)|ewsletter)|"
    r"p(?:ager|agination|opular|opup|ost-?meta|romo(?!ted))|"
    r"r(?:ating|ecommend|elated)|"
    r"s(?:hare|haring|hariff|idebar|ignup|kip|ocial|ponsor|ubscri)|"
    r"t(?:ag(?<![a-z0-9]tag)s?(?!\S)|ags?-?(?:list|cloud)|aboola|"
    r"ime(?<![a-z0-9]time)s?(?![a-z0-9])|oolbar)",
)
"""Class/id fragments (lower-cased) of elements that are not the main text. Short words count
only as a whole part of a name (`ad`, `meta`, `date`, not `head`, `metadata`, `update`) and
`tag` not as WordPress's `tag-<term>` post class. The fragments are grouped by their first
letter, their boundary looked behind afterwards: the regex engine then tries one group per
position instead of every fragment, several times faster on real class lists."""

HIDDEN, BOILERPLATE, TEASER = "hidden", "boilerplate", "teaser"
"""An element's marks. A teaser (a class/id fragment) is boilerplate when it holds a link:
another article's teaser links to it, while the article's own lead teaser is plain text."""

BOILERPLATE_ROLES = frozenset(
    {
        "navigation",
        "complementary",
        "contentinfo",
        "banner",
        "search",
        "menu",
        "menubar",
        "dialog",
    }
)
"""ARIA landmark roles of the page frame (trafilatura discards `@role` containing `nav`)."""

HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

MIN_PARAGRAPH = 25
"""Characters a block needs before it votes for its ancestors."""
LINK_LIST_DENSITY = 0.5
"""Above this share of linked text, a list, box or heading is navigation, not text."""
LEGEND = 100
"""Characters of text below which a box with an image is the image's legend and credit."""
CARDS = 3
CARD_TEXT = 500
"""Characters a teaser card holds at most: a title and a line or two."""
MAIN_SHARE = 0.85
"""Share of all paragraph votes the main container must hold."""
SIBLING_VOTES = 0.05
SIBLING_LINK_DENSITY = 0.2
ARTICLE_TAGS = frozenset({"article", "main", "body"})
"""Where the search for a lead stops: a lead belongs to an article, not to the page."""


@dataclass(eq=False, slots=True)
class Block:
    """One element of the page with the text measurements that decide its fate."""

    node: LexborNode
    tag: str
    parent: Block | None
    mark: str = ""
    inline: int = 0
    inline_linked: int = 0
    text: int = 0
    linked: int = 0
    votes: int = 0
    images: int = 0
    children: list[Block] = field(default_factory=list)

    @property
    def link_density(self) -> float:
        return self.linked / self.text if self.text else 0.0


def extract_main_text(html: str | bytes) -> str:
    """The main text of one HTML page (decoded, or UTF-8 bytes), '' when it has none."""
    tree = LexborHTMLParser(without_deep_nesting(html))
    body = tree.body
    if body is None:
        return ""
    root = measure(body)
    cut_boilerplate(root)
    container = densest_container(root)
    lead = with_lead(container)
    parts = lead + [block for block in with_siblings(container) if block not in lead]
    drop_trailing_titles_and_links(parts)
    text = "\n".join(serialize(block.node) for block in parts)
    title = tree.css_first("h1")
    if title is not None and not any(_contains(block.node, title) for block in parts):
        heading = _collapse(title.text(deep=True))
        if heading:
            text = f"{heading}\n{text}"
    return _tidy(text)


NESTING_LIMIT = 10_000
"""Block elements nested deeper than this are made paragraphs before parsing. lexbor's tree
builder looks through the open elements at each block that opens (for a <p> to close), so
a page of unclosed <div>s took 0.24 s at 16,000 and ran past the stage's time budget at
200,000; flat, it parses in milliseconds, each block's text a line of its own."""
NESTING_BLOCKS = re.compile(
    rb"<(/?)(?:address|article|aside|blockquote|center|details|dialog|dir|div|dl|fieldset|"
    rb"figcaption|figure|footer|header|hgroup|main|menu|nav|ol|search|section|summary|ul)"
    rb"(?=[\s/>])",
    re.IGNORECASE,
)
"""The elements whose opening makes lexbor look for a <p> to close."""


def without_deep_nesting(html: str | bytes) -> str | bytes:
    """`html`, or where its blocks nest deeper than `NESTING_LIMIT`, its UTF-8 with every
    such block a <p>. Only a page of more tags than the limit is searched."""
    if html.count("<" if isinstance(html, str) else b"<") <= NESTING_LIMIT:
        return html
    data = html.encode() if isinstance(html, str) else html
    depths = accumulate(-1 if tag.group(1) else 1 for tag in NESTING_BLOCKS.finditer(data))
    if max(depths, default=0) <= NESTING_LIMIT:
        return html
    return NESTING_BLOCKS.sub(rb"<\1p", data)


def drop_trailing_titles_and_links(parts: list[Block]) -> None:
    """Drop the h2-h6 headings and links the main text would end with: a heading there titles
    nothing of it, only what was cut after it, and a link there is a "back to the list" or
    "read more" (trafilatura drops titles and references "not at the end" likewise)."""
    while parts:
        last = parts[-1].node
        walk = last.last_child
        while True:
            ending = _not_at_the_end(_last_text(last, walk), last)
            if ending is None:
                return
            if ending.mem_id == last.mem_id:
                parts.pop()
                break
            # The walk goes on before what it drops: a page's thousands of trailing links
            # (and the blanks between them) are each looked at once.
            walk = _preceding(ending, last)
            ending.decompose()


def _last_text(top: LexborNode, walk: LexborNode | None) -> LexborNode | None:
    """The last text node under `top` that is not blank, walked back from `walk` on."""
    while walk is not None:
        if walk.tag == "-text" and (walk.text_content or "").strip():
            return walk
        walk = walk.last_child or _preceding(walk, top)
    return None


def _preceding(node: LexborNode, top: LexborNode) -> LexborNode | None:
    """The node before `node` in `top`'s document order, outside `node`'s own subtree."""
    while node.prev is None:
        node = node.parent
        if node is None or node.mem_id == top.mem_id:
            return None
    return node.prev


def _not_at_the_end(node: LexborNode | None, top: LexborNode) -> LexborNode | None:
    while node is not None:
        if node.tag in NOT_AT_THE_END:
            return node
        if node.mem_id == top.mem_id:
            return None
        node = node.parent
    return None


def measure(body: LexborNode) -> Block:
    """Walk the DOM once, recording text and link lengths and boilerplate names per element."""
    own = len(body.text(deep=False).strip())
    root = Block(body, "body", None, text=own, inline=own)
    owners = {body.mem_id: (root, False)}  # element → its block, and whether it is in a link
    blocks = [root]
    dropped = []  # the frame tags and hidden elements, cut after the walk
    nodes = body.traverse()
    next(nodes)  # the body itself
    for node in nodes:
        owner = owners.get(node.parent.mem_id)
        if owner is None:  # inside a dropped element
            continue
        parent, in_link = owner
        tag = node.tag
        if tag is None or tag[0] in "-!":  # a comment, a doctype
            continue
        if tag in DROPPED_TAGS:
            dropped.append(node)
            continue
        mark = _mark(node, tag)
        if mark == HIDDEN:
            dropped.append(node)
            continue
        in_link = in_link or tag == "a"
        if tag == "img":
            parent.images += 1
        own = len(node.text(deep=False).strip())
        holder = parent  # an unmarked inline element's text is its parent's (a link's, linked)
        if mark or tag in BLOCK_TAGS or tag in LINK_LIST_TAGS:
            holder = Block(node, tag, parent, mark)
            parent.children.append(holder)
            blocks.append(holder)
        holder.text += own
        holder.inline += own
        if in_link:
            holder.linked += own
            holder.inline_linked += own
        owners[node.mem_id] = (holder, in_link)
    for node in dropped:
        node.decompose()
    for block in reversed(blocks):  # children before parents
        parent = block.parent
        if block.tag not in BLOCK_TAGS and parent is not None:  # its text votes in its parent's
            parent.inline += block.inline
            parent.inline_linked += block.inline_linked
        elif block.inline >= MIN_PARAGRAPH:
            block.votes += block.inline - block.inline_linked
        if parent is not None:
            parent.text += block.text
            parent.linked += block.linked
            parent.votes += block.votes
            parent.images += block.images
    return root


def cut_boilerplate(root: Block) -> None:
    """Cut boilerplate-named blocks and link lists, unless one holds most of the page's text,
    with the heading right before a cut block of links: its title ("Related", "More on this")."""
    limit = 0.5 * root.votes
    stack = [root]
    while stack:
        block = stack.pop()
        kept = []
        for child in block.children:
            link_list = child.tag in LINK_LIST_TAGS and child.link_density > LINK_LIST_DENSITY
            boilerplate = child.mark == BOILERPLATE or (child.mark == TEASER and child.linked > 0)
            boilerplate = boilerplate or _is_legend(child) or _is_card_grid(child)
            if (boilerplate or link_list) and child.votes <= limit:
                _cut(block, child)
                if child.linked and kept and kept[-1].tag in LIST_TITLES:  # it titled the links
                    _cut(block, kept.pop())
            else:
                kept.append(child)
        block.children = kept
        stack.extend(kept)


def _is_card_grid(block: Block) -> bool:
    """CARDS or more sibling boxes of one class, each a picture, a link and a few lines: the
    teasers of other pages ("More on this", "Latest stories"), whatever their heading says."""
    if len(block.children) < CARDS:
        return False
    kinds = Counter(
        (card.tag, card.node.attributes.get("class"))
        for card in block.children
        if card.images and card.linked and card.text <= CARD_TEXT
    )
    return any(count >= CARDS and css_class for (_, css_class), count in kinds.items())


def _is_legend(block: Block) -> bool:
    """A box of an image and a line or two: its legend and credit, a <figure> without the tag."""
    return block.images > 0 and block.text < LEGEND and block.tag in LEGEND_TAGS


def _cut(block: Block, child: Block) -> None:
    child.node.decompose()
    _subtract(block, child)


def densest_container(root: Block) -> Block:
    """The deepest element that still holds MAIN_SHARE of the page's paragraph text."""
    container, need = root, MAIN_SHARE * root.votes
    while True:
        inner = max(container.children, key=lambda block: block.votes, default=None)
        if inner is None or inner.votes < need or inner.votes == 0:
            return container
        container = inner


def with_siblings(container: Block) -> list[Block]:
    """The container and those siblings that hold unlinked paragraphs of their own.

    Templates often split one article over sibling boxes (lead, body, fact box); a sibling
    with a twentieth of the container's votes and few links belongs to it.
    """
    if container.parent is None:
        return [container]
    floor = max(SIBLING_VOTES * container.votes, 1)
    return [
        sibling
        for sibling in container.parent.children
        if sibling is container
        or (sibling.votes >= floor and sibling.link_density < SIBLING_LINK_DENSITY)
    ]


def with_lead(container: Block) -> list[Block]:
    """The blocks before the container, up to its article, that hold a paragraph of their own.

    A lead (teaser, intro, standfirst) often sits in the article's header, a branch apart
    from the body that holds most of the text: one unlinked paragraph is enough to keep it.
    A page without an <article> or <main> keeps only the nearest earlier siblings (of the
    container or of the wrappers that hold nothing else): higher up, the blocks before it are
    the page's, not the article's.
    """
    lead: list[Block] = []
    nearest: list[Block] | None = None
    block = container
    while block.parent is not None and block.tag not in ARTICLE_TAGS:
        earlier = block.parent.children[: block.parent.children.index(block)]
        lead[:0] = [
            sibling
            for sibling in earlier
            if sibling.votes >= MIN_PARAGRAPH and sibling.link_density < SIBLING_LINK_DENSITY
        ]
        if nearest is None and earlier:
            nearest = list(lead)
        block = block.parent
    return lead if block.tag != "body" else nearest or []


def _subtract(block: Block | None, child: Block) -> None:
    while block is not None:
        block.text -= child.text
        block.linked -= child.linked
        block.votes -= child.votes
        block = block.parent


def serialize(node: LexborNode) -> str:
    """Text with one line per block, `• ` before list items, ` | ` between table cells."""
    out: list[str] = []
    stack: list[LexborNode | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        tag = item.tag
        if tag == "-text":
            out.append(item.text_content or "")
            continue
        if tag is None or tag.startswith("-") or tag == "!--":
            continue
        if tag == "br":
            out.append("\n")
            continue
        before, after = _separators(tag)
        stack.append(after)
        stack.extend(reversed(list(item.iter(include_text=True))))
        stack.append(before)
    return "".join(out)


def _separators(tag: str) -> tuple[str, str]:
    if tag == "li":
        return "\n• ", "\n"
    if tag in ("td", "th"):
        return " | ", ""
    if tag in BLOCK_TAGS:
        return "\n", "\n"
    return "", ""


def _mark(node: LexborNode, tag: str) -> str:
    """HIDDEN from readers, named like BOILERPLATE, named like a TEASER, or ''."""
    attributes = node.attributes
    if not attributes:
        return BOILERPLATE if tag == "form" else ""
    if "hidden" in attributes or attributes.get("aria-hidden") == "true":
        return HIDDEN
    style = attributes.get("style")
    if style and HIDDEN_STYLE.search(style):
        return HIDDEN
    if tag in ("a", "main", "article"):
        return ""
    if tag == "form" or attributes.get("role") in BOILERPLATE_ROLES:
        return BOILERPLATE
    if tag in HEADINGS:  # its id is an anchor spelled from its own words, not a template's name
        return _named_like(attributes.get("class") or "")
    return _named_like(f"{attributes.get('class') or ''} {attributes.get('id') or ''}")


@lru_cache(maxsize=4096)
def _named_like(names: str) -> str:
    names = names.lower()
    if BOILERPLATE_NAMES.search(names):
        return BOILERPLATE
    return TEASER if TEASER in names else ""


def _contains(ancestor: LexborNode, node: LexborNode) -> bool:
    current: LexborNode | None = node
    while current is not None:
        if current.mem_id == ancestor.mem_id:
            return True
        current = current.parent
    return False


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n") if line and not line.isspace())
    return "\n".join(line for line in lines if line not in ("•", "|"))

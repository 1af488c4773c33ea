"""Executed notebooks -> one self-contained HTML page that reads like a chapter of a book.

What the page gets, and why:
  * code hidden (``show_code`` keeps it), parameters cells dropped (the header lists every value),
    the shared set-up shown once, stderr dropped, live widgets replaced by a note;
  * math typeset offline: every ``$...$`` / ``$$...$$`` in Markdown (cells and outputs) becomes
    MathML at build time (latex2mathml), so no MathJax and no network is needed;
  * figures as ``<figure>`` with a numbered caption and alt text (from the output's metadata),
    inline SVG so the chart's per-point ``<title>`` tooltips work;
  * numbered sections, a table of contents with working anchors, an abstract on top;
  * no ``<script>`` at all, no external ``src``/``href``; a stylesheet for screen and print;
  * nothing runs and nothing loads, whatever a name or a config holds: raw HTML in Markdown that
    the notebooks do not write themselves shows as text, a sanitising pass removes every handler,
    script-like URL, frame, embed, refresh, base and remote load from the final page, and a
    Content-Security-Policy forbids scripts and remote loads should anything be missed.
"""
from __future__ import annotations

import html as html_lib
import re

import nbformat

from .explorer import WIDGET_NOTE

HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}
# the only raw HTML the notebooks write into Markdown; any other tag there is shown as text
MARKDOWN_TAGS = {"details", "summary", "div", "span", "br", "sub", "sup", "b", "i", "em", "strong", "code",
                 "kbd", "small", "p", "hr"}
FOREIGN_TAG = re.compile(r"<(?=/?([A-Za-z][\w:-]*)[\s/>])")
CODE_SPAN = re.compile(r"(```.*?```|`+[^`]*`+)", re.S)
DROPPED_TAGS = ["script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "form",
                "input", "button", "textarea", "select", "noscript", "template", "portal", "video", "audio",
                "source", "track", "picture", "foreignobject", "animate", "set", "animatemotion",
                "animatetransform", "handler", "listener"]
URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction", "srcset", "poster", "background", "data",
                  "cite", "longdesc", "lowsrc", "dynsrc", "ping", "manifest", "codebase", "srcdoc", "usemap"}
SUSPICIOUS = re.compile(r"<\s*/?\s*(?:script|iframe|frame|object|embed|applet|base|link|meta|form|foreignobject|"
                        r"animate|set|handler|listener|a|img|source|video|audio)\b|\bon[a-z]+\s*=|javascript|vbscript|"
                        r"@import|url\(\s*['\"]?(?!#|data:image/png;base64,)|(?:href|src|action|srcdoc)\s*=\s*['\"]?"
                        r"(?!#|data:image/png;base64,)", re.I)
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; "
       "form-action 'none'; frame-src 'none'; object-src 'none'; script-src 'none'")
MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?!\d)", re.S)

STYLE = """
:root { --text: #1d1d1f; --muted: #5f6368; --rule: #d9d9de; --accent: #1a4f9c; }
body { margin: 0; }
main.rl-book { max-width: 56rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; color: var(--text);
  font: 16px/1.6 Georgia, "DejaVu Serif", serif; }
main.rl-book h1, main.rl-book h2, main.rl-book h3 { font-family: "Helvetica Neue", Arial, sans-serif;
  line-height: 1.25; }
main.rl-book h1 { border-top: 2px solid var(--rule); padding-top: 1.2rem; margin-top: 3rem; }
main.rl-book h1.rl-title { border: 0; margin-top: 0; }
.rl-abstract { background: #f5f7fb; border-left: 4px solid var(--accent); padding: .6rem 1.2rem; }
nav.rl-toc ol { list-style: none; padding-left: 1.2rem; } nav.rl-toc li { margin: .1rem 0; }
nav.rl-toc > ol > li { font-weight: 600; } nav.rl-toc ol ol { font-weight: normal; }
nav.rl-toc a { color: var(--accent); text-decoration: none; }
.jp-Cell, .jp-OutputArea-output, .jp-RenderedHTMLCommon { max-width: 100%; }
.jp-RenderedHTMLCommon, .jp-OutputArea-output { font-size: 1rem; }
.jp-OutputArea-output pre { white-space: pre-wrap; font-size: .85rem; }
table { border-collapse: collapse; max-width: 100%; font: .85rem/1.35 "Helvetica Neue", Arial, sans-serif; }
.jp-RenderedHTMLCommon table, table.rl-table { margin: .6rem 0 1.2rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--rule); text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.rl-table td.text, table.rl-table th.text { text-align: left !important; }
table.rl-table td.num, table.rl-table th.num { text-align: right !important; font-variant-numeric: tabular-nums; }
table.rl-table td.nowrap { white-space: nowrap; }
.jp-RenderedMarkdown td[style*="right"] { white-space: nowrap; }  /* a Markdown table's numbers: "85.1 GB" on one line */
caption { caption-side: top; text-align: left; font-style: italic; color: var(--muted); padding-bottom: .3rem; }
.rl-scroll { overflow-x: auto; }
figure.rl-figure { margin: 1.2rem 0; } figure.rl-figure svg, figure.rl-figure img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: var(--muted); font-size: .9rem; margin-top: .3rem; }
math[display="block"] { margin: .6rem 0; overflow-x: auto; overflow-y: hidden; }
a.anchor-link { display: none; }
.rl-print-only { display: none; }
.jp-InputPrompt, .jp-OutputPrompt { display: none; }
@media print {
  @page { size: A4; margin: 16mm 14mm; }
  main.rl-book { max-width: none; padding: 0; font-size: 10.5pt; }
  /* nothing after the last table: its margins alone would spill onto an empty last page */
  main.rl-book > .jp-Cell:last-child, main.rl-book > .jp-Cell:last-child * { margin-bottom: 0 !important;
    padding-bottom: 0 !important; }
  nav.rl-toc { break-after: page; }
  main.rl-book h1 { break-before: page; }
  main.rl-book h1.rl-title { break-before: avoid; }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; break-inside: avoid; }
  /* a heading stays with the block after it: never alone at the foot of a page */
  h1 + *, h2 + *, h3 + *, h4 + *, .jp-MarkdownCell:has(h1, h2, h3, h4):not(:has(p, table, ul, ol)) + * {
    break-before: avoid; page-break-before: avoid; }
  details.rl-params > :not(summary) { display: block; }
  details.rl-params::details-content { content-visibility: visible; display: contents; }
  .rl-print-only { display: block !important; }
  .rl-print-only table { break-inside: auto; }  /* a long list of parameters may continue overleaf */
  .rl-print-only th, .rl-print-only td { padding: 0 .5rem; line-height: 1.25; }
  details.rl-params { display: none; }
  table, figure, math[display="block"], .jp-OutputArea-output pre { break-inside: avoid; }
  /* a long table may continue overleaf (its header repeats), so it does not push a mostly empty page ahead */
  table.rl-long, .jp-OutputArea-child:has(table.rl-long) { break-inside: auto; }  /* over nbconvert's avoid-page */
  table.rl-long tr { break-inside: avoid; }
  table.rl-long thead { display: table-header-group; }
  table { font-size: 7.5pt; } .rl-scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


def _math_to_placeholders(text: str, found: list[str]) -> str:
    """Replace each $...$ / $$...$$ by a placeholder Markdown leaves alone; collect the MathML."""
    from latex2mathml.converter import convert

    def replace(match: re.Match) -> str:
        block, inline = match.group(1), match.group(2)
        tex = block if block is not None else inline
        try:
            mathml = convert(tex.strip(), display="block" if block is not None else "inline")
        except Exception:  # not valid LaTeX after all: keep the text as the reader wrote it
            return match.group(0)
        found.append(mathml)
        return f"rlmath{len(found) - 1}x"
    return MATH.sub(replace, text)


def _escape_foreign_tags(markdown: str) -> str:
    """Raw HTML in Markdown that is not one of ``MARKDOWN_TAGS`` becomes text (``&lt;``): a name
    like ``<img src=x onerror=...>`` that reached a sentence unescaped reads as written. Code
    spans and fences are left alone (Markdown shows them literally already)."""
    parts = CODE_SPAN.split(markdown)
    for index in range(0, len(parts), 2):
        parts[index] = FOREIGN_TAG.sub(
            lambda m: "<" if m.group(1).lower() in MARKDOWN_TAGS else "&lt;", parts[index])
    return "".join(parts)


def _safe_url(value: str, allowed: tuple[str, ...]) -> bool:
    """Browsers ignore whitespace and control characters inside a scheme: compare without them."""
    compact = re.sub(r"[\x00-\x20\x7f]+", "", value).lower()
    return compact.startswith(allowed)


def _sanitize_css(css: str) -> str:
    css = re.sub(r"@import[^;]*;?", "", css, flags=re.I)
    return re.sub(r"url\(\s*(['\"]?)(?!#|data:)[^)]*\)", "none", css, flags=re.I)


def sanitize(soup) -> None:
    """Remove from ``soup`` everything that could run or load: handlers, script-like URLs, frames,
    embeds, forms, ``<base>``, ``<meta http-equiv>``, remote images and stylesheets. Kept: links to
    ``#anchors`` and (clicked, never loaded) ``http(s)`` pages, ``data:image/png`` images, inline
    SVG and MathML."""
    for tag in soup.find_all(DROPPED_TAGS):
        tag.decompose()
    for tag in soup.find_all("meta"):
        if any(key.lower() == "http-equiv" for key in tag.attrs):
            tag.decompose()
    for tag in soup.find_all("style"):
        if tag.string:
            tag.string = _sanitize_css(tag.string)
    for tag in soup.find_all(True):
        for key in list(tag.attrs):
            name, value = key.lower(), tag.attrs[key]
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.startswith("on") or name in ("srcset", "srcdoc", "formaction", "action", "ping"):
                del tag.attrs[key]
            elif name == "style" and _sanitize_css(value) != value or (name == "style" and "expression" in value.lower()):
                del tag.attrs[key]
            elif name in URL_ATTRIBUTES:
                if tag.name == "a" and name == "href":
                    allowed = ("#", "http://", "https://", "mailto:")
                elif tag.name in ("img", "image") and name in ("src", "href", "xlink:href"):
                    allowed = ("data:image/png;base64,", "#")
                else:
                    allowed = ("#",)
                if not _safe_url(value, allowed) or value.strip().startswith("//"):
                    del tag.attrs[key]
            elif tag.name in ("animate", "set") or "javascript:" in re.sub(r"\s+", "", value.lower()):
                del tag.attrs[key]
    for image in soup.find_all("img"):
        if not image.get("src"):  # a remote image: its alt text stands in for it
            alt = image.get("alt", "")
            image.replace_with(alt if "No description" not in alt else "")


def _safe_fragment(text: str) -> str:
    """A stashed SVG or MathML fragment, sanitised; the parse is skipped when nothing in it could
    be active (the common case: thousands of chart elements)."""
    if not SUSPICIOUS.search(text):
        return text
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    sanitize(soup)
    return str(soup)


def _figure(output, number: int, stash: list[str]) -> nbformat.NotebookNode:
    """An image output with alt/caption metadata, as one ``<figure>`` (inline SVG keeps tooltips).

    The SVG itself waits in ``stash`` behind a placeholder: thousands of chart elements would
    otherwise be parsed twice by the HTML passes below, for nothing."""
    meta = output.get("metadata", {})
    alt = meta.get("alt") or meta.get("image/svg+xml", {}).get("alt") or ""
    caption = meta.get("caption", "")
    data = output["data"]
    if "image/svg+xml" in data:
        svg = data["image/svg+xml"]
        svg = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", "", svg).strip()
        svg = re.sub(r"<svg\b", f'<svg role="img" aria-label="{html_lib.escape(alt, quote=True)}"', svg, count=1)
        stash.append(svg)
        body = f"rlmath{len(stash) - 1}x"
    else:
        body = (f'<img src="data:image/png;base64,{data["image/png"].strip()}" '
                f'alt="{html_lib.escape(alt, quote=True)}">')
    caption_html = f"<figcaption>Figure {number}. {html_lib.escape(caption)}</figcaption>" if caption else ""
    return nbformat.v4.new_output("display_data", data={
        "text/html": f'<figure class="rl-figure">{body}{caption_html}</figure>',
        "text/plain": f"Figure {number}. {caption}"})


def _is_figure(output) -> bool:
    data = output.get("data", {})
    return ("image/svg+xml" in data or "image/png" in data) and output.get("output_type") != "stream"


def prepare_cells(cells: list, show_code: bool, math: list[str]) -> list:
    """The cells a reader needs, with math as placeholders and figures as ``<figure>``."""
    seen, kept, figures = set(), [], 0
    for cell in cells:
        if set(cell.get("metadata", {}).get("tags", [])) & HIDDEN_TAGS:
            continue
        cell = nbformat.from_dict(cell)  # a copy: the executed notebook stays as it ran
        cell.metadata.pop("tags", None)  # tags become CSS classes: no test markers in the page
        if cell.cell_type == "markdown":
            cell.source = _escape_foreign_tags(_math_to_placeholders(cell.source, math))
        elif cell.cell_type == "code":
            key = (cell.source, repr(cell.outputs))
            if key in seen:  # the same set-up cell with the same output: once is enough
                continue
            seen.add(key)
            outputs = []
            for output in cell.outputs:
                data = output.get("data", {})
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    continue
                if "application/vnd.jupyter.widget-view+json" in data:
                    output = nbformat.v4.new_output("display_data", data={"text/markdown": f"*{WIDGET_NOTE}*"})
                elif _is_figure(output):
                    figures += 1
                    output = _figure(output, figures, math)
                elif "text/markdown" in data:
                    output = nbformat.from_dict(output)
                    output["data"]["text/markdown"] = _escape_foreign_tags(
                        _math_to_placeholders(data["text/markdown"], math))
                    output["data"].pop("text/html", None)
                elif "text/html" in data:  # tables with formulas in their cells
                    output = nbformat.from_dict(output)
                    output["data"]["text/html"] = _math_to_placeholders(data["text/html"], math)
                outputs.append(output)
            cell.outputs = outputs
            if not show_code and not outputs:
                continue
        kept.append(cell)
    return kept


def to_html(cells: list, metadata: dict, title: str, header_markdown: str, abstract_markdown: str = "",
            show_code: bool = False) -> str:
    """One page: title and parameters, abstract, table of contents, then the numbered chapters."""
    from bs4 import BeautifulSoup, Comment
    from nbconvert import HTMLExporter

    math: list[str] = []
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = metadata
    header = [nbformat.v4.new_markdown_cell(_escape_foreign_tags(_math_to_placeholders(header_markdown, math)))]
    if abstract_markdown:
        header.append(nbformat.v4.new_markdown_cell(
            '<div class="rl-abstract">\n\n' + _escape_foreign_tags(_math_to_placeholders(abstract_markdown, math))
            + "\n\n</div>"))
    notebook.cells = header + prepare_cells(cells, show_code, math)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    exporter.log.setLevel("ERROR")
    page, _ = exporter.from_notebook_node(notebook)
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup.find_all("script"):
        tag.decompose()
    for tag in soup.find_all("link", href=re.compile(r"^https?://")):
        tag.decompose()
    for comment in soup.find_all(string=lambda text: isinstance(text, Comment)):
        comment.extract()  # the template's notes about loading MathJax from a CDN
    sanitize(soup)
    soup.title.string = title
    policy = soup.new_tag("meta", attrs={"http-equiv": "Content-Security-Policy", "content": CSP})
    soup.head.insert(0, policy)  # first in <head>: a policy governs only what follows it
    style = soup.new_tag("style")
    style.string = STYLE
    soup.head.append(style)
    main = soup.body.find("main")
    if main is None:
        main = soup.new_tag("main")
        for child in list(soup.body.children):
            main.append(child.extract())
        soup.body.append(main)
    main["class"] = main.get("class", []) + ["rl-book"]
    _number_and_list_sections(soup, main)
    for table in main.find_all("table"):
        if table.parent.name != "div" or "rl-scroll" not in (table.parent.get("class") or []):
            table.wrap(soup.new_tag("div", attrs={"class": "rl-scroll"}))
    for details in main.find_all("details"):  # closed <details> print closed: a print-only copy
        details["class"] = details.get("class", []) + ["rl-params"]
        copy = soup.new_tag("div", attrs={"class": "rl-print-only"})
        for child in details.find_all(recursive=False):
            if child.name != "summary":
                copy.append(BeautifulSoup(str(child), "html.parser"))
        details.insert_after(copy)
    text = str(soup)
    for index, mathml in enumerate(math):
        text = text.replace(f"rlmath{index}x", _safe_fragment(mathml))
    return text


def _number_and_list_sections(soup, main) -> None:
    """Number h2 sections as N.M under the chapter 'N. Title' h1s, and put a linked list of them
    after the abstract. Anchors are nbconvert's heading ids (made unique here)."""
    headings = main.find_all(["h1", "h2"])
    if not headings:
        return
    title, chapters = headings[0], headings[1:]
    title["class"] = title.get("class", []) + ["rl-title"]
    toc = soup.new_tag("nav", attrs={"class": "rl-toc", "aria-label": "Contents"})
    heading = soup.new_tag("h2")
    heading.string = "Contents"
    toc.append(heading)
    outer = soup.new_tag("ol")
    toc.append(outer)
    ids, chapter, section, inner = set(), "", 0, None
    for tag in chapters:
        for anchor in tag.find_all("a", class_="anchor-link"):
            anchor.decompose()
        text = tag.get_text(" ", strip=True)
        if tag.name == "h1":
            match = re.match(r"(\d+)\.\s*", text)
            chapter, section = (match.group(1) if match else ""), 0
        else:
            section += 1
            if chapter:
                text = f"{chapter}.{section} {text}"
                tag.insert(0, f"{chapter}.{section} ")
        anchor = _unique(tag.get("id") or re.sub(r"\W+", "-", text).strip("-"), ids)
        tag["id"] = anchor
        item = soup.new_tag("li")
        link = soup.new_tag("a", href=f"#{anchor}")
        link.string = text
        item.append(link)
        if tag.name == "h1":
            outer.append(item)
            inner = soup.new_tag("ol")
            item.append(inner)
        elif inner is not None:
            inner.append(item)
        else:
            outer.append(item)
    for empty in toc.find_all("ol"):
        if not empty.find("li"):
            empty.decompose()
    abstract = main.find("div", class_="rl-abstract")
    anchor_cell = abstract.find_parent("div", class_="jp-Cell") if abstract else title.find_parent("div", class_="jp-Cell")
    (anchor_cell or title).insert_after(toc)


def _unique(anchor: str, taken: set) -> str:
    candidate, n = anchor, 1
    while candidate in taken:
        n += 1
        candidate = f"{anchor}-{n}"
    taken.add(candidate)
    return candidate


"""Executed notebooks -> one self-contained HTML page that reads like a chapter of a book.

What the page gets, and why:
  * code hidden (``show_code`` keeps it), parameters cells dropped (the header lists every value),
    the shared set-up shown once, stderr dropped, live widgets replaced by a note;
  * math typeset offline: every ``$...$`` / ``$$...$$`` in Markdown (cells and outputs) becomes
    MathML at build time (latex2mathml), so no MathJax and no network is needed;
  * figures as ``<figure>`` with a numbered caption and alt text (from the output's metadata),
    inline SVG so the chart's per-point ``<title>`` tooltips work;
  * numbered sections, a table of contents with working anchors, an abstract on top;
  * no ``<script>`` at all, no external ``src``/``href``; a stylesheet for screen and print.
"""
from __future__ import annotations

import html as html_lib
import re

import nbformat

from .explorer import WIDGET_NOTE

HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}
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
caption { caption-side: top; text-align: left; font-style: italic; color: var(--muted); padding-bottom: .3rem; }
.rl-scroll { overflow-x: auto; }
figure.rl-figure { margin: 1.2rem 0; } figure.rl-figure svg, figure.rl-figure img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: var(--muted); font-size: .9rem; margin-top: .3rem; }
math[display="block"] { margin: .6rem 0; overflow-x: auto; overflow-y: hidden; }
a.anchor-link { display: none; }
.jp-InputPrompt, .jp-OutputPrompt { display: none; }
@media print {
  @page { size: A4; margin: 16mm 14mm; }
  main.rl-book { max-width: none; padding: 0; font-size: 10.5pt; }
  nav.rl-toc { break-after: page; }
  main.rl-book h1 { break-before: page; }
  main.rl-book h1.rl-title { break-before: avoid; }
  h1, h2, h3 { break-after: avoid; }
  table, figure, math[display="block"], .jp-OutputArea-output pre { break-inside: avoid; }
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
            cell.source = _math_to_placeholders(cell.source, math)
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
                    output["data"]["text/markdown"] = _math_to_placeholders(data["text/markdown"], math)
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
    header = [nbformat.v4.new_markdown_cell(_math_to_placeholders(header_markdown, math))]
    if abstract_markdown:
        header.append(nbformat.v4.new_markdown_cell(
            '<div class="rl-abstract">\n\n' + _math_to_placeholders(abstract_markdown, math) + "\n\n</div>"))
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
    soup.title.string = title
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
    text = str(soup)
    for index, mathml in enumerate(math):
        text = text.replace(f"rlmath{index}x", mathml)
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


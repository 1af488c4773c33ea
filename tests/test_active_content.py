"""Nothing a name, a config or a Markdown cell holds runs or loads in the report (issue 20, defect 1)."""
import re

import nbformat
import pytest
from bs4 import BeautifulSoup

from roofline_utils.export import to_html
from roofline_utils.text import markdown_text, mathtext

PAYLOADS = ["<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", '<iframe srcdoc="<script>alert(1)</script>">',
            '<meta http-equiv="refresh" content="0;url=https://example.com">', '<base href="https://example.com/">',
            '<link rel="stylesheet" href="//host/x.css">', '<img src="https://example.com/x.png">',
            '<a href="javascript:alert(1)">x</a>', '<a href="java\tscript:alert(1)">y</a>',
            '<details ontoggle=alert(1) open>z</details>', "[x](javascript:alert(1))", "![](https://example.com/p.png)",
            '<div style="background:url(https://example.com/t)">w</div>', "<script>alert(1)</script>"]


def active_content(soup) -> list[str]:
    """Every element or attribute that could run script or load something from elsewhere."""
    found = [str(t)[:80] for t in soup.find_all(["script", "iframe", "object", "embed", "base", "link", "source"])]
    found += [str(t)[:80] for t in soup.find_all("meta") if t.get("http-equiv", "").lower() == "refresh"]
    for tag in soup.find_all(True):
        for key, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else value
            compact = re.sub(r"\s+", "", value).lower()
            if key.lower().startswith("on") or ("javascript:" in compact and not compact.startswith("#")) \
                    or "url(http" in compact:
                found.append(f"{tag.name}[{key}]")
            if key in ("src", "href", "xlink:href") and not compact.startswith(("#", "data:image/png;base64,")) \
                    and not (tag.name == "a" and compact.startswith(("http://", "https://"))):
                found.append(f"{tag.name}[{key}]={value}")
    return found


def page(markdown: str, title_markdown: str = "# A report") -> BeautifulSoup:
    cell = nbformat.v4.new_markdown_cell(markdown)
    code = nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": markdown, "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"text/html": markdown, "text/plain": "x"})])
    return BeautifulSoup(to_html([cell, code], {}, "t", title_markdown, "abstract " + markdown), "html.parser")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_runs_or_loads_in_markdown_outputs_or_html(payload):
    soup = page(f"# 1. Chapter\n\n## Section\n\nbefore {payload} after\n")
    assert active_content(soup) == []


def test_the_page_carries_a_policy_that_forbids_scripts_and_remote_loads():
    soup = page("text")
    policy = soup.head.find("meta")  # first in <head>: it governs everything after it
    assert policy["http-equiv"] == "Content-Security-Policy"
    assert "default-src 'none'" in policy["content"] and "script-src 'none'" in policy["content"]
    assert "img-src data:" in policy["content"]


def test_internal_anchors_and_data_images_stay():
    soup = page('[see](#section) <a href="https://arxiv.org/abs/2401.10774">paper</a>')
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert "#section" in hrefs and "https://arxiv.org/abs/2401.10774" in hrefs


def test_an_escaped_name_reads_as_written():
    name = "<img src=x onerror=alert(1)> *b* $x$ [l](javascript:1)"
    soup = page(f"On the **{markdown_text(name)}**.", f"# Report: {markdown_text(name)}")
    assert active_content(soup) == []
    assert f"Report: {name}" in soup.find("h1").get_text()
    assert f"On the {name}." in soup.get_text()
    assert not soup.find("math")  # the $x$ of a name is not typeset


def test_a_dollar_in_a_chart_title_is_a_dollar():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    ax.set_title(mathtext("GPU $x^{$"))  # unescaped, mathtext fails to parse this when drawn
    figure.canvas.draw()
    plt.close(figure)


def test_a_device_named_like_markup_renders_as_text(tmp_path):
    from roofline_utils.params import ReportParameters
    from roofline_utils.report import render_report

    name = "<img src=x onerror=alert(1)>"
    device = tmp_path / "evil.yaml"
    device.write_text(f'name: "{name}"\nmemory_gb: 48\nbandwidth_gb_s: 696\npeak_tflops: {{fp16: 149.7}}\n')
    path = render_report(ReportParameters(hardware=str(device)), tmp_path / "out")
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    assert active_content(soup) == []
    assert f"Llama 33B on {name}" in soup.find("h1").get_text()  # the title, as written
    assert f"Llama 33B on {name}" in soup.find("div", class_="rl-abstract").get_text()  # the abstract

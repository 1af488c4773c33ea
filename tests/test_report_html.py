"""The HTML report a reader opens: a book, not a log. One default render, parsed."""
import re

import pytest
from bs4 import BeautifulSoup

from roofline_utils.params import ReportParameters
from roofline_utils.report import render_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path = render_report(ReportParameters(), folder)
    return folder, path, BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_the_render_writes_four_files_named_by_the_parameters(report):
    folder, path, _ = report
    stem = "llama-33b_a40_b1_s1024"
    assert path == folder / f"{stem}.html"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{stem}.html", f"{stem}_operators.csv", f"{stem}_roofline.png", f"{stem}_roofline.svg"])
    assert (folder / f"{stem}_roofline.svg").read_text().lstrip().startswith("<?xml")


def test_title_version_and_parameters_on_top(report):
    _, _, soup = report
    assert soup.title.string == "Roofline report: Llama 33B, NVIDIA A40"
    text = soup.get_text(" ")
    assert "Roofline report: Llama 33B on NVIDIA A40" in text and "roofline 0.1.0" in text
    params = soup.find("details")
    assert params is not None and "sweep_batches" in params.get_text() and "[1, 2, 4, 8, 16, 32, 64]" in params.get_text()


def test_no_code_and_no_test_markers_by_default(report):
    _, path, soup = report
    assert soup.select(".jp-MarkdownCell") and not soup.select(".jp-CodeCell .jp-InputArea, .highlight")
    html = path.read_text()
    assert "NBVAL" not in html and "nbval" not in html
    assert ".roofline-render-" not in html  # no staging paths from the injected parameters


def test_nothing_loads_from_the_network_and_no_scripts(report):
    _, path, soup = report
    assert not soup.find_all("script")
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src")):
        for element in soup.find_all(tag):
            assert not re.match(r"https?://", element.get(attribute, "")), element
    assert "cdnjs" not in path.read_text() and "mathjax" not in path.read_text().lower()


def test_table_of_contents_links_resolve_to_numbered_sections(report):
    _, _, soup = report
    toc = soup.find("nav", class_="rl-toc")
    links = [a["href"] for a in toc.find_all("a")]
    assert len(links) >= 7 + 10  # seven chapters and their sections
    ids = {tag["id"] for tag in soup.find_all(id=True)}
    assert all(link.startswith("#") and link[1:] in ids for link in links)
    chapters = [li.a.get_text() for li in toc.find("ol").find_all("li", recursive=False)]
    assert [c.split(".")[0] for c in chapters] == ["1", "2", "3", "4", "5", "6", "7", "Glossary and references",
                                                   "Appendices"]  # the back matter is not a numbered chapter
    assert chapters[5] == "6. Speculative decoding: checking several tokens in one step"
    assert any(re.match(r"3\.\d+ ", a.get_text()) for a in toc.find_all("a"))


def test_every_figure_has_alt_text_and_a_caption(report):
    _, _, soup = report
    figures = soup.find_all("figure")
    assert len(figures) >= 5
    for figure in figures:
        image = figure.find(["svg", "img"])
        alt = image.get("aria-label") if image.name == "svg" else image.get("alt")
        assert alt and len(alt) > 20 and "No description" not in alt, alt
        assert re.match(r"Figure \d+\. \S", figure.figcaption.get_text())
    for image in soup.find_all("img"):
        assert image.get("alt") and "No description has been provided" not in image["alt"]
    # figures are inline SVG only: the notebooks' PNG fallback is not drawn for the report
    assert all(figure.find("svg") for figure in figures) and not soup.find_all("img")


def test_math_is_mathml(report):
    _, _, soup = report
    assert len(soup.find_all("math")) >= 10
    assert "$$" not in soup.get_text()


def test_operator_tables_are_html_tables(report):
    _, _, soup = report
    tables = soup.find_all("table")
    assert len(tables) >= 8
    headers = [" ".join(th.get_text(" ", strip=True) for th in table.find_all("th")) for table in tables]
    assert any("operator" in h.lower() and "flop" in h.lower() for h in headers)
    text = soup.get_text(" ")
    # q_proj prefill FLOPs, 2·1024·6656·6656 = 90,731,184,128: 90.7 GFLOP in the table, exact in the worked example
    assert "90.7" in text
    assert re.search(r"90\W{0,3}731\W{0,3}184\W{0,3}128", text)


def test_chart_points_carry_tooltips(report):
    _, _, soup = report
    titles = [t.get_text() for svg in soup.find_all("svg") for t in svg.find_all("title")]
    point = [t for t in titles if "batch" in t and "FLOP" in t]
    assert len(point) >= 6 * 49  # six groups x 49 settings on the main chart
    assert any("qk/pv" in t for t in point)


def test_no_nan_or_inf_anywhere(report):
    _, _, soup = report
    words = re.findall(r"\b(?:nan|NaN|inf|Infinity)\b", soup.get_text(" "))
    assert not words


def test_show_code_keeps_the_code_cells():
    import nbformat

    from roofline_utils.report import NOTEBOOKS, notebook_folder, notebooks_to_html

    notebooks = [nbformat.read(notebook_folder() / name, as_version=4) for name in NOTEBOOKS]
    shown = BeautifulSoup(notebooks_to_html(notebooks, ReportParameters(), show_code=True), "html.parser")
    hidden = BeautifulSoup(notebooks_to_html(notebooks, ReportParameters()), "html.parser")
    assert len(shown.select(".jp-CodeCell .jp-InputArea")) >= 10
    assert not hidden.select(".jp-CodeCell .jp-InputArea")
    assert not any("parameters" in cell.get_text() and "papermill" in cell.get_text()
                   for cell in shown.select(".jp-CodeCell"))  # parameters cells are never shown


def test_an_odd_report_has_no_nan_or_inf_either(tmp_path):
    """Tensor parallelism (all-reduce rows), fused attention (softmax on chip) and a single output
    token (no decode steps) once gave inf in tables and text."""
    params = ReportParameters(model="mixtral-8x7b", hardware="h100-sxm", tp=2, attention_io="fused", output_len=1,
                              sweep_batches=[1, 64], sweep_seq_lens=[128, 8192])
    soup = BeautifulSoup(render_report(params, tmp_path).read_text(encoding="utf-8"), "html.parser")
    assert not re.findall(r"\b(?:nan|NaN|inf|Infinity)\b", soup.get_text(" "))
    csv = next(tmp_path.glob("*_operators.csv")).read_text()
    assert not re.findall(r"(?<![a-z_])(?:nan|inf)\b|,-\d", csv)


def test_the_widget_is_a_note_in_the_text_not_a_code_dump(report):
    _, _, soup = report
    notes = [tag for tag in soup.find_all(string=lambda text: text and "explorer's controls appear here" in text)]
    assert len(notes) == 1
    assert not notes[0].find_parent("pre") and notes[0].find_parent("p")
    assert "widget-view" not in str(soup) and "Loading widget" not in soup.get_text()


def test_the_speculation_chapter_shows_the_speedup_for_the_default_and_for_llama_7b_on_an_a100(report):
    _, _, soup = report
    captions = [figure.figcaption.get_text() for figure in soup.find_all("figure")]
    assert any("predicted speedup" in c for c in captions)
    assert any("Llama-7B on an A100-80GB SXM" in c for c in captions)
    text = " ".join(soup.get_text(" ").split())
    # the readings are sentences with numbers: overhead and speedup at batch 1, where the speedup halves
    assert re.search(r"costs \d\.\d\d× a plain decode step; accepting 3\.5 tokens per step, that is a \d\.\d\d× "
                     r"speedup", text)
    assert re.search(r"The speedup halves by batch \d+", text)


def test_the_measured_chapter_shows_the_a100_for_the_a40_with_its_figures(report):
    _, _, soup = report
    text = " ".join(soup.get_text(" ").split())
    assert "5.1 Measured on a GPU" in text and "5.2 Measure your own machine" in text
    assert "NVIDIA A40 is not in the measured tables; NVIDIA A100 80GB SXM4 is the measured GPU of the same " \
           "generation (Ampere" in text
    assert re.search(r"On the NVIDIA A100 80GB SXM4, batch 1, a 1,024-token prompt and 256 output tokens: time to "
                     r"first token at least [\d.]+ ms by the roofline; [\d.]+ ms from NVIDIA's measured kernels", text)
    captions = [figure.figcaption.get_text() for figure in soup.find_all("figure")]
    assert any("under the datasheet roofs (dashed)" in c for c in captions)
    assert any("Measured GEMMs under the datasheet roofs, by working set" in c for c in captions)

"""Measured on a GPU: the paper's chart, the GEMM cloud and their reading, from NVIDIA's measured kernels.

Three views of one GPU's measured kernels (:mod:`.extract`), each against the datasheet roofs:

    medusa_points   the paper's Figure 14 (six groups × 49 settings) with each group's measured time
                    beside the time the operator list predicts (fused attention, as the kernels run)
    gemm_cloud      the extract's seeded sample of the GPU's bf16 GEMM grid: what fraction of each roof
                    real kernels reach, and which ones beat the HBM roof (their working set against the L2)
    reading         sentences computed from both, each wording chosen from the numbers

Everything is derived from the operator list (:func:`.measured.measured_rows`); the notebook only calls.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import join_and, plural
from ..hardware import Hardware, get_hardware
from ..models import ModelConfig
from ..operators import ATTN, GROUPS, PHASE_LABELS, PHASES
from ..roofline import operator_table
from ..units import grouped
from ..workload import Workload
from .empirical import LOOSE, TIGHT
from .extract import KernelSource, extract_rows
from .lookup import EXTRAPOLATED, GRID, INTERPOLATED
from .measured import UNKNOWN_L2_BYTES, WELL_ABOVE_L2, bound_check, measured_rows, uncovered_reason
from .runs import MEDUSA_BATCHES, medusa_settings

SOURCE_RANK = {GRID: 0, INTERPOLATED: 1, EXTRAPOLATED: 2}  # a point is as uncertain as its least certain kernel
CLOSER = 0.9  # "closer to / further from the bound at batch 64": the ratio moved by more than 10 %
FIRST_BATCH, LAST_BATCH = MEDUSA_BATCHES[0], MEDUSA_BATCHES[-1]


def legend_label(group: str, phase: str) -> str:
    return f"{group} {PHASE_LABELS[phase]}"


# --- the paper's chart, measured ------------------------------------------------------------------------

def medusa_points(model: ModelConfig, source: KernelSource) -> pd.DataFrame:
    """One row per (phase, group, batch, length) of the paper's grid whose every operator a measured kernel
    covers: Σ FLOPs, Σ bytes, Σ measured and Σ predicted seconds (the catalog's figures for the measured
    GPU, 16-bit, fused attention), intensity, both speeds, ``ratio`` (measured / predicted) and
    ``measured_from``: grid, interpolated or extrapolated, the least certain of its kernels."""
    hardware = source.hardware
    rows = measured_rows(model, hardware, medusa_settings(), source.times)
    expected = {}
    for phase in PHASES:  # how many kernels a complete group has: its operators; fused attention is one
        table = operator_table(model, hardware, Workload(attention_io="fused"), phase)
        for group in GROUPS:
            expected[phase, group] = 1 if group == ATTN else int((table["group"] == group).sum())
    rows = rows[rows["group"].isin(GROUPS)].assign(rank=lambda r: r["note"].map(SOURCE_RANK))
    sums = rows.groupby(["phase", "group", "batch", "seq_len"], sort=False).agg(
        kernels=("operator", "size"), flops=("flops", "sum"), bytes=("bytes", "sum"), measured_s=("min_s", "sum"),
        predicted_s=("predicted_s", "sum"), rank=("rank", "max")).reset_index()
    complete = [k == expected[p, g] for p, g, k in zip(sums["phase"], sums["group"], sums["kernels"])]
    sums = sums[np.array(complete, dtype=bool)].reset_index(drop=True)
    names = {rank: name for name, rank in SOURCE_RANK.items()}
    return sums.assign(label=sums["group"], intensity=sums["flops"] / sums["bytes"],
                       measured_flops_per_s=sums["flops"] / sums["measured_s"],
                       performance_flops_per_s=sums["flops"] / sums["predicted_s"],
                       ratio=sums["measured_s"] / sums["predicted_s"],
                       measured_from=sums["rank"].map(names)).drop(columns=["rank", "kernels"])


def group_ratios(points: pd.DataFrame) -> pd.DataFrame:
    """Per group of the chart: settings measured, how many interpolated or extrapolated, measured/bound
    median and range over them, and the median over lengths at batch 1 and at batch 64."""
    records = []
    for group in GROUPS:
        for phase in PHASES:
            part = points[(points["group"] == group) & (points["phase"] == phase)]
            at = {b: part.loc[part["batch"] == b, "ratio"] for b in (FIRST_BATCH, LAST_BATCH)}
            records.append({
                "group": legend_label(group, phase), "settings": len(part),
                "interpolated": int((part["measured_from"] == INTERPOLATED).sum()),
                "extrapolated": int((part["measured_from"] == EXTRAPOLATED).sum()),
                "median": part["ratio"].median() if len(part) else np.nan,
                "min": part["ratio"].min() if len(part) else np.nan,
                "max": part["ratio"].max() if len(part) else np.nan,
                f"batch {FIRST_BATCH}": at[FIRST_BATCH].median() if len(at[FIRST_BATCH]) else np.nan,
                f"batch {LAST_BATCH}": at[LAST_BATCH].median() if len(at[LAST_BATCH]) else np.nan})
    return pd.DataFrame(records)


# --- the GEMM cloud -------------------------------------------------------------------------------------

def cloud_rows(device: str) -> pd.DataFrame:
    """The extract's seeded sample of one GPU's bf16 GEMM grid (vLLM, its newest version): rows in the
    database's columns. The same sample whether or not the database is installed."""
    rows = extract_rows()
    return rows[(rows["device"] == device) & (rows["purpose"] == "cloud")].drop(columns="purpose").reset_index(drop=True)


def gemm_cloud(rows: pd.DataFrame, hardware: Hardware) -> pd.DataFrame:
    """Each GEMM against the datasheet roofs (:func:`.measured.bound_check`), with its intensity, the FLOP/s
    and bytes/s it achieved, the fraction of each roof that is, and where its working set lies against the
    L2: ``l2_share`` = working set / L2 (the catalog's L2; 256 MiB where it gives none)."""
    checked = bound_check(rows, hardware)
    l2 = hardware.l2_bytes or UNKNOWN_L2_BYTES
    achieved_flops = checked["flops"] / checked["measured_s"]
    achieved_bytes = checked["bytes"] / checked["measured_s"]
    return checked.assign(intensity=checked["flops"] / checked["bytes"], achieved_flops_per_s=achieved_flops,
                          achieved_bytes_per_s=achieved_bytes,
                          compute_fraction=achieved_flops / hardware.peak("bf16"),
                          memory_fraction=achieved_bytes / hardware.bandwidth_bytes_per_s,
                          above_hbm=achieved_bytes > hardware.bandwidth_bytes_per_s,
                          l2_share=checked["bytes"] / l2)


@dataclass(frozen=True)
class RoofReach:
    """What fraction of one roof the cloud's kernels on its side of the ridge reach."""

    roof: str  # "memory" or "compute"
    kernels: int
    median: float
    p90: float
    best: float


@dataclass(frozen=True)
class CloudReading:
    """The GEMM cloud of one GPU, in numbers."""

    gpu: str
    kernels: int
    l2_bytes: float
    l2_known: bool
    checked: int  # working set at least WELL_ABOVE_L2 × the L2
    below: int  # of them, faster than the bound (beyond the timer and clock tolerance)
    worst_checked_ratio: float  # the smallest measured / bound among the checked
    memory: RoofReach  # memory-bound kernels whose working set is above the L2: fraction of HBM bandwidth
    compute: RoofReach  # compute-bound kernels: fraction of the bf16 peak
    above_hbm: int  # achieved bytes/s above the HBM bandwidth
    above_hbm_most: float  # the largest achieved bandwidth / HBM bandwidth among them
    above_hbm_shares: tuple[float, ...]  # their working sets / the L2


def _reach(roof: str, values: pd.Series) -> RoofReach:
    if values.empty:
        return RoofReach(roof, 0, np.nan, np.nan, np.nan)
    return RoofReach(roof, len(values), float(values.median()), float(values.quantile(0.9)), float(values.max()))


def cloud_reading(cloud: pd.DataFrame, hardware: Hardware) -> CloudReading:
    checked = cloud[cloud["checked"]]
    memory = cloud[(cloud["bound"] == "memory") & (cloud["l2_share"] > 1)]
    compute = cloud[cloud["bound"] == "compute"]
    above = cloud[cloud["above_hbm"]]
    return CloudReading(
        gpu=hardware.name, kernels=len(cloud), l2_bytes=float(hardware.l2_bytes or UNKNOWN_L2_BYTES),
        l2_known=hardware.l2_bytes is not None, checked=len(checked), below=int(checked["below"].sum()),
        worst_checked_ratio=float(checked["ratio"].min()) if len(checked) else np.nan,
        memory=_reach("memory", memory["memory_fraction"]), compute=_reach("compute", compute["compute_fraction"]),
        above_hbm=len(above), above_hbm_most=float(above["memory_fraction"].max()) if len(above) else np.nan,
        above_hbm_shares=tuple(float(v) for v in above["l2_share"]))


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def l2_explanation(shares) -> str:
    """Why kernels beat the HBM roof, from their working sets as multiples of the L2: those that fit in
    it, those within WELL_ABOVE_L2 × it (their reused tiles stay in it), and any beyond (unexplained)."""
    shares = np.asarray(shares, dtype=float)
    inside, near = int((shares <= 1).sum()), int(((shares > 1) & (shares < WELL_ABOVE_L2)).sum())
    beyond = len(shares) - inside - near
    parts = []
    if inside:
        parts.append(f"{grouped(inside)} {_verb(inside, 'has a working set', 'have working sets')} that "
                     f"{_verb(inside, 'fits', 'fit')} in the L2 whole")
    if near:
        parts.append(f"{grouped(near)} {_verb(near, 'has one', 'have one')} of {shares[(shares > 1) & (shares < WELL_ABOVE_L2)].max():.2f}× "
                     f"the L2 at most, small enough for the reused operand tiles to be read from the L2 rather than HBM")
    if beyond:
        parts.append(f"{grouped(beyond)} {_verb(beyond, 'has', 'have')} a working set of at least {WELL_ABOVE_L2}× the "
                     "L2, which the cache cannot explain: a counting or catalog error to look into")
    verdict = ("the L2 explains " + ("it" if len(shares) == 1 else "all of them") + ": the roofline's one memory "
               "level is HBM, and a kernel served from the L2 is not bound by it") if not beyond else ""
    return "; ".join(parts) + (f"; {verdict}" if verdict else "")


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _pct(value: float) -> str:
    return f"{value:.0%}"


def cloud_sentences(reading: CloudReading) -> list[str]:
    """The cloud's reading: the bound, the reach of each roof, and the kernels above the HBM roof with why."""
    l2 = f"{_mib(reading.l2_bytes)} L2" + ("" if reading.l2_known else " (assumed: the catalog gives none)")
    limit = f"{WELL_ABOVE_L2}× the {l2}"
    if reading.checked == 0:
        bound = f"None of the {grouped(reading.kernels)} sampled GEMMs has a working set of {limit}, so none tests the bound."
    elif reading.below == 0:
        bound = (f"All {grouped(reading.checked)} sampled GEMMs whose working set is at least {limit} took at least "
                 f"their roofline time (the closest at {reading.worst_checked_ratio:.2f}× it): the bound held.")
    else:
        bound = (f"{grouped(reading.below)} of the {grouped(reading.checked)} sampled GEMMs whose working set is at "
                 f"least {limit} ran faster than their roofline time allows (down to "
                 f"{reading.worst_checked_ratio:.2f}× it): the bound failed for them, a counting or catalog error.")
    sentences = [bound]
    reach = []
    if reading.memory.kernels:
        reach.append(f"the {grouped(reading.memory.kernels)} memory-bound ones with a working set above the L2 "
                     f"reach a median {_pct(reading.memory.median)} of the HBM bandwidth (90th percentile "
                     f"{_pct(reading.memory.p90)}, best {_pct(reading.memory.best)})")
    if reading.compute.kernels:
        reach.append(f"the {grouped(reading.compute.kernels)} compute-bound ones a median "
                     f"{_pct(reading.compute.median)} of the bf16 peak (90th percentile {_pct(reading.compute.p90)}, "
                     f"best {_pct(reading.compute.best)})")
    if reach:
        sentences.append("Of the sampled GEMMs, " + "; ".join(reach) + ".")
    if reading.above_hbm == 0:
        sentences.append("No sampled GEMM moved its bytes faster than the HBM bandwidth.")
    else:
        one = reading.above_hbm == 1
        sentences.append(
            f"{grouped(reading.above_hbm)} of the {grouped(reading.kernels)} sampled GEMMs "
            f"{_verb(reading.above_hbm, 'sits', 'sit')} above the HBM roof ("
            + (f"at {reading.above_hbm_most:.2f}×" if one else f"up to {reading.above_hbm_most:.2f}×")
            + " the datasheet bandwidth): " + l2_explanation(reading.above_hbm_shares) + ".")
    return sentences


# --- the reading of the chart ---------------------------------------------------------------------------

def _band(ratio: float) -> str:
    ratio = round(ratio, 2)  # the band of the ratio as written beside it: 1.30 is tight, whatever its third digit
    return "tight" if ratio <= TIGHT else "loose" if ratio <= LOOSE else "very loose"


def chart_sentences(ratios: pd.DataFrame, points: pd.DataFrame, hardware: Hardware) -> list[str]:
    """Per group: measured/bound median and range and its band, and how it moves from batch 1 to batch 64;
    the points faster than their bound, against the L2; how many points are interpolated or extrapolated."""
    gpu = hardware.name
    first, last = f"batch {FIRST_BATCH}", f"batch {LAST_BATCH}"
    measured = ratios[ratios["settings"] > 0]
    missing = ratios.loc[ratios["settings"] == 0, "group"].tolist()
    if measured.empty:
        from ..models import load_model
        from .extract import EXTRACT_MODELS

        held = ", ".join(load_model(name).display_name for name in EXTRACT_MODELS)
        return [f"No group of this model has all its operators in the measured tables of the {gpu}: the shipped "
                f"extract holds the shapes of {held} only; with the optional `kernels` extra installed "
                "(`pip install -e '.[kernels]'`) NVIDIA's whole database is read."]
    sentences = []
    for _, row in measured.iterrows():
        text = (f"{row['group']}: measured {row['median']:.2f}× the bound at the median of {plural('setting', row['settings'])} "
                f"({row['min']:.2f} to {row['max']:.2f}, {_band(row['median'])})")
        if np.isfinite(row[first]) and np.isfinite(row[last]):
            move = row[last] / row[first]
            how = ("closer to the bound" if move < CLOSER else "further from it" if move > 1 / CLOSER
                   else "about as close")
            text += f"; {row[first]:.2f}× at {first}, {row[last]:.2f}× at {last}: {how} at {last}"
        sentences.append(text + ".")
    if missing:
        sentences.append(f"Not measured for this model: {', '.join(missing)} (an operator without a kernel table, "
                         "or a shape beyond the tables' grid).")
    faster = points[points["ratio"] < 1]
    if len(faster):
        l2 = hardware.l2_bytes or UNKNOWN_L2_BYTES
        groups = join_and(dict.fromkeys(legend_label(g, p) for g, p in zip(faster["group"], faster["phase"])))
        sentences.append(f"{grouped(len(faster))} {_verb(len(faster), 'point runs', 'points run')} faster than "
                         f"{_verb(len(faster), 'its', 'their')} bound ({groups}; down to "
                         f"{faster['ratio'].min():.2f}×): " + l2_explanation(faster["bytes"] / l2) + ".")
    else:
        sentences.append("No point ran faster than its bound.")
    counts = points["measured_from"].value_counts()
    parts = [f"{grouped(counts.get(name, 0))} {name}" for name in (GRID, INTERPOLATED, EXTRAPOLATED)
             if counts.get(name, 0)]
    why = []
    if counts.get(INTERPOLATED, 0):
        why.append("interpolated: a shape between the tables' grid values (in log space), or a head count the "
                   "tables lack folded into the batch")
    if counts.get(EXTRAPOLATED, 0):
        why.append("extrapolated: beyond the grid's largest rows or batch, timed as chunks the tables hold")
    sentences.append(f"Of the {grouped(len(points))} measured points, " + ", ".join(parts)
                     + (f" ({'; '.join(why)})" if why else "") + ".")
    return sentences


# --- the section as a whole -----------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuSection:
    """What the chapter's 'Measured on a GPU' section shows for one report."""

    device: str | None  # the catalog key of the GPU shown (None: nothing to show)
    intro: str  # which GPU and why (or why none)
    source: KernelSource | None
    points: pd.DataFrame | None
    ratios: pd.DataFrame | None
    cloud: pd.DataFrame | None

    @property
    def hardware(self) -> Hardware | None:
        return get_hardware(self.device) if self.device else None


def gpu_section(model: ModelConfig, hardware: Hardware, workload: Workload, measured_device: str = "auto",
                framework: str = "vllm") -> GpuSection:
    """The GPU the section shows (:func:`.extract.choose_device`), its measured Medusa points and ratios
    for the report's model, and its GEMM cloud; the intro says which GPU and why."""
    from ..text import markdown_text
    from .extract import choose_device, kernel_source

    choice = choose_device(hardware, measured_device)
    if choice.shown is None:
        return GpuSection(None, f"No measured kernels are shown: {markdown_text(choice.reason)}.", None, None, None, None)
    source = kernel_source(choice.shown, framework)
    shown = get_hardware(choice.shown)
    if choice.shown == hardware.key:
        intro = f"The report's own device, the **{markdown_text(shown.name)}**, is in NVIDIA's measured tables."
    elif measured_device == "auto":
        intro = (f"{markdown_text(choice.reason)}. This section shows the **{markdown_text(shown.name)}**; "
                 "`--measured-device` picks another.")
    else:
        intro = (f"The section shows the **{markdown_text(shown.name)}**, {choice.reason}, not the report's "
                 f"{markdown_text(hardware.name)}.")
    reason = uncovered_reason(model, workload)
    points = ratios = None
    if reason is None:
        points = medusa_points(model, source)
        ratios = group_ratios(points)
    else:
        intro += f" The chart is not measured for this report's workload: {reason}."
    cloud = gemm_cloud(cloud_rows(choice.shown), shown)
    return GpuSection(choice.shown, intro, source, points, ratios, cloud)


def reading(section: GpuSection) -> list[str]:
    """The section's sentences: the chart's groups, then the GEMM cloud."""
    if section.device is None:
        return []
    sentences = []
    if section.points is not None:
        sentences += chart_sentences(section.ratios, section.points, section.hardware)
    if section.cloud is not None and len(section.cloud):
        sentences += cloud_sentences(cloud_reading(section.cloud, section.hardware))
    return sentences


# --- what the chapter displays --------------------------------------------------------------------------

def peak(section: GpuSection) -> float:
    """The compute roof the chart's predictions use: the 16-bit one of the measured GPU."""
    from ..roofline import peak_flops

    return float(peak_flops(section.hardware, Workload()))


def source_note(section: GpuSection) -> str:
    """Where the measured kernels were read (the installed database or the shipped extract) and what of them."""
    from ..text import markdown_text

    if section.source is None:
        return ""
    cloud = (f" The GEMM cloud is the extract's seeded sample of the {markdown_text(section.hardware.name)}'s bf16 "
             "GEMM grid (vLLM), the same with or without the database.")
    return f"Measured kernels: {markdown_text(section.source.describe())}." + cloud


def chart_title(section: GpuSection, model: ModelConfig) -> str:
    return f"Measured kernels against the roofline ({model.display_name}, {section.hardware.name.removeprefix('NVIDIA ')})"


def describe_chart(section: GpuSection) -> str:
    """Alt text for the measured chart: per group, measured/bound median and range."""
    parts = [f"{row['group']} measured at {row['median']:.2f}× the bound (median; {row['min']:.2f} to {row['max']:.2f})"
             for _, row in section.ratios.iterrows() if row["settings"]]
    return (f"Roofline of the {section.hardware.name} (memory roof {section.hardware.bandwidth_bytes_per_s / 1e12:.3g} "
            f"TB/s, compute roof {peak(section) / 1e12:.4g} TFLOP/s) with each group's predicted points hollow and "
            "measured points filled in the same colour: " + ("; ".join(parts) or "no group measured") + ".")


def describe_cloud(section: GpuSection) -> str:
    reading = cloud_reading(section.cloud, section.hardware)
    return (f"{reading.kernels:,} measured bf16 GEMMs of the {section.hardware.name} under its datasheet roofs, "
            f"coloured by working set against the {_mib(reading.l2_bytes)} L2; {reading.above_hbm:,} above the HBM "
            f"roof, {reading.below:,} of the {reading.checked:,} with a working set over {WELL_ABOVE_L2}× the L2 "
            "faster than their bound.")


def end_to_end_reading(section: GpuSection, model: ModelConfig, workload: Workload, prompt_len: int,
                       output_len: int) -> list[str]:
    """The report's request (batch, prompt, output tokens) on the measured GPU: at least X by the roofline,
    Y from the measured kernels, for the first token and each next one (:func:`.measured.end_to_end`)."""
    from .measured import end_to_end, end_to_end_sentences

    if section.source is None:
        return []
    reason = uncovered_reason(model, workload)
    e2e = None if reason else end_to_end(model, section.hardware, workload, prompt_len, output_len,
                                         section.source.times)
    return end_to_end_sentences(e2e, section.hardware.name, int(workload.batch), prompt_len, output_len, reason)


def ratio_table(ratios: pd.DataFrame) -> pd.DataFrame:
    """The per-group table as the chapter shows it: ratios to two decimals, 'not measured' where a group
    has no complete setting (no blank number shows as nan)."""
    shown = ratios.copy().astype(object)
    numbers = ["median", "min", "max", f"batch {FIRST_BATCH}", f"batch {LAST_BATCH}"]
    for index, row in ratios.iterrows():
        for column in numbers:
            value = row[column]
            shown.at[index, column] = f"{value:.2f}" if np.isfinite(value) else ""
        if not row["settings"]:
            shown.at[index, "median"] = "not measured"
    return shown


# The chapter's subsections, each shown only where the section has its data (a device the tables do not hold,
# nor any GPU of its generation, gets the intro's one sentence and no empty headings).
SUBSECTIONS = {
    "chart": ("### The paper's chart, measured\n\n"
              "The paper's figure (six groups, 49 settings each: batch 1 to 64 × length 128 to 8,192) under the "
              "measured GPU's datasheet roofs. Hollow markers: the roofline's prediction for each group (attention "
              "fused, as the kernels run it); filled markers of the same shape and colour: NVIDIA's measured "
              "kernels. A black outline marks a time interpolated between the tables' grid shapes, a faded one a "
              "time extrapolated as chunks."),
    "ratios": ("### Measured / bound, per group\n\n"
               "Measured time over roofline time for each group's settings: the median and range over the 49, and "
               "the median over the lengths at batch 1 and at batch 64."),
    "cloud": ("### Every GEMM of the GPU\n\n"
              "Beyond the model's shapes: a seeded sample of every bf16 GEMM shape the tables hold, at the speed it "
              "ran, under the same roofs. The colour says where the kernel's working set (its operands and result) "
              "lies against the L2 cache: a kernel that fits in the L2 can read its operands faster than HBM "
              "delivers them, which a roofline with HBM as its one memory level does not model."),
    "reading": ("### The reading\n\n"
                "Computed from the measured kernels: how close each group comes to its bound, whether the bound held, "
                "what fraction of each roof real kernels reach, and, where any beat the HBM roof, why."),
    "end_to_end": ("### End to end from measured kernels\n\n"
                   "The report's request timed twice: every operator at its roofline time, and every operator a measured "
                   "kernel covers at that kernel's time (the rest at its roofline time, in both)."),
}
SUBSECTION_DATA = {"chart": "points", "ratios": "ratios", "cloud": "cloud", "reading": "points", "end_to_end": "points"}


def subsection(section: GpuSection, part: str) -> str:
    """The heading and opening of one subsection (Markdown), or nothing when the section lacks its data."""
    return SUBSECTIONS[part] if getattr(section, SUBSECTION_DATA[part]) is not None else ""

"""The one schema of report parameters.

Every notebook's ``parameters`` cell, the ``roofline render`` / ``roofline table`` flags and
the report's header are read from :class:`ReportParameters`: a field, its default, its
allowed range and its help text are written here once (``tests/test_params.py`` checks the
notebooks and the CLI against it).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .errors import RooflineInputError, shown
from .hardware import PRECISIONS
from .workload import MAX_GROUP_SIZE, MAX_MEDUSA_HEADS, MAX_TREE_SIZE, MLA_FORMS, SCALE_BITS

DEFAULT_MEASUREMENT = "llama-33b_cpu-2core_numpy-float32.csv"
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_SEQ_LENS = (128, 256, 512, 1024, 2048, 4096, 8192)
BIT_CHOICES = (4, 8, 16, 32)
COMPUTE_PRECISIONS = ("auto", *PRECISIONS)  # auto: the one the bit widths imply (workload.compute_precision)
MAX_SWEEP_VALUES = 64  # per sweep axis: 64 x 64 settings per group is already a dense cloud
MAX_NAME_CHARS = 200  # a preset, device key or run name (the longest shipped is under 40)
MAX_PATH_CHARS = 1024  # a path given for a model, device or draft
MAX_PART_BYTES = 255  # one folder or file name: what Linux, macOS and Windows file systems allow
MAX_STEM_NAME_CHARS = 48  # of a name in an output file name; a longer one is cut and the stem hashed
PATH_SUFFIXES = (".json", ".yaml", ".yml")
TEXT_FIELDS = ("model", "hardware", "draft_model", "measurement_run", "measured_device")
MEASURED_FRAMEWORKS = ("vllm", "sglang", "trtllm")  # the frameworks NVIDIA's collectors timed kernels with
WEIGHT_SOURCES = ("checkpoint", "flags")  # a config.json's quantization_config, or the weight fields as given


def _param(default, help: str, *, low: float | None = None, high: float | None = None, choices=None,
           cli: bool = True, open_range: bool = False):
    """A schema field: default, help text, range (integers, or numbers when the default is a float;
    ``open_range`` excludes both ends) or choices; ``cli=False`` keeps it off the CLI."""
    meta = {"help": help, "low": low, "high": high, "choices": choices, "cli": cli, "open": open_range}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ReportParameters:
    """What a report is about. Each field is one ``parameters``-cell variable and one CLI flag."""

    model: str = _param("llama-33b", "preset name ('roofline list models') or path to a config.json")
    hardware: str = _param("a40", "device key ('roofline list hardware') or a .json/.yaml device file")
    batch: int = _param(1, "sequences in flight", low=1, high=2**20)
    seq_len: int = _param(1024, "prompt length in prefill, KV-cache length in decode (tokens)",
                          low=1, high=2**24)
    output_len: int = _param(256, "tokens generated, for the end-to-end latency", low=1, high=2**20)
    weight_bits: int = _param(16, "bits per weight", choices=BIT_CHOICES)
    act_bits: int = _param(16, "bits per activation", choices=BIT_CHOICES)
    kv_bits: int = _param(16, "bits per KV-cache element", choices=BIT_CHOICES)
    attention_io: str = _param("fused", "attention in the served numbers (latency, throughput, sweeps, memory): "
                               "'fused': FlashAttention-style, as serving engines run it; 'unfused': scores go "
                               "through memory (the chart always counts the paper's separate matmuls)",
                               choices=("fused", "unfused"))
    tp: int = _param(1, "tensor-parallel devices", low=1, high=1024)
    compute_precision: str = _param("auto", "the linear layers' compute roof: 'auto' takes the one the bit widths "
                                    "imply (W8A8: fp8 where the device has it); int8 for SmoothQuant-style W8A8",
                                    choices=COMPUTE_PRECISIONS)
    weight_group_size: int = _param(0, "weights per quantisation group, each with its own scale (GPTQ/AWQ: 128; "
                                    "0: per-channel scales, negligible)", low=0, high=MAX_GROUP_SIZE)
    weight_scale_bits: int = _param(16, "bits of each group's scale (16: fp16, GPTQ/AWQ; 8: NVFP4's E4M3, MXFP4's "
                                    "E8M0; 32: FP8 blocks' float32)", choices=SCALE_BITS)
    weight_zero_point: bool = _param(False, "each weight group also stores a zero point at weight_bits "
                                     "(asymmetric GPTQ/AWQ)")
    weights_from: str = _param("checkpoint", "where the weight format comes from: 'checkpoint': a config.json's "
                               "quantization_config sets weight_bits, weight_group_size, weight_scale_bits, "
                               "weight_zero_point and the layers kept at 16 bits, unless one of them is given (a "
                               "model without one takes them as given); 'flags': as given, always (any --weight-* "
                               "or --bits flag sets it)", choices=WEIGHT_SOURCES)
    quantize_head: bool = _param(False, "quantise embed_tokens and lm_head too (by default they stay at 16 bits, "
                                 "as GPTQ and AWQ keep them)")
    quantize_stream: bool = _param(False, "narrow activations everywhere (by default only the linear layers read "
                                   "and write act_bits; norms, attention, residual stream and all-reduce stay 16-bit)")
    mla: str = _param("absorbed", "MLA models (DeepSeek-V3): 'absorbed' decode attends to the cached latent (vLLM, "
                      "SGLang); 'naive' decompresses per-head K/V and caches them", choices=MLA_FORMS)
    gpu_memory_utilization: float = _param(0.9, "share of the device's reported memory the server may use "
                                           "(vLLM's gpu_memory_utilization)", low=0.01, high=1.0)
    sweep_batches: list = _param(DEFAULT_BATCHES, "batches of the chart's clouds (comma-separated)",
                                 low=1, high=2**20)
    sweep_seq_lens: list = _param(DEFAULT_SEQ_LENS, "lengths of the chart's clouds (comma-separated)",
                                  low=1, high=2**24)
    show_other_ops: bool = _param(False, "also plot o_proj, norms, softmax, lm_head, ...")
    measurement_run: str = _param(DEFAULT_MEASUREMENT, "a shipped measurement run for the measured-vs-"
                                  "predicted section ('roofline list runs')")
    remeasure: bool = _param(False, "measure this machine now (a GPU with PyTorch+CUDA if present, else the CPU)")
    measured_device: str = _param("auto", "the GPU whose measured kernels (NVIDIA's tables) are shown: 'auto' takes "
                                  "the report's device when measured, else the measured GPU of its generation; "
                                  "'none': skip; or a catalog key ('roofline list measured')")
    measured_framework: str = _param("vllm", "the framework whose measured kernels are shown, at the newest version "
                                     "the tables hold for that GPU", choices=MEASURED_FRAMEWORKS)
    tree_size: int = _param(64, "speculative decoding: candidate tokens verified per sequence in one step (Medusa's "
                            "default tree has 64)", low=1, high=MAX_TREE_SIZE)
    medusa_heads: int = _param(4, "Medusa heads run on every candidate (0: none)", low=0, high=MAX_MEDUSA_HEADS)
    acceptance: float = _param(3.5, "Medusa: tokens accepted per verify step on average, from 1 to --tree-size "
                               "(the paper's acceleration rate)", low=1.0, high=float(MAX_TREE_SIZE))
    draft_model: str = _param("auto", "draft model for speculative decoding: a preset or config.json path with the "
                              "target's vocabulary; 'auto': the smallest such preset; 'none': skip")
    draft_acceptance: float = _param(0.7, "draft model: probability that the target accepts each drafted token "
                                     "(alpha), between 0 and 1", low=0.0, high=1.0, open_range=True)
    draft_tokens: int = _param(4, "draft model: tokens drafted per round (gamma)", low=1, high=32)
    figure_dir: str | None = _param(None, "folder to save the chart as PNG and SVG (None: not saved)", cli=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise RooflineInputError(f.name, f"must be True or False, got {shown(value)}")
            elif f.name.startswith("sweep_"):
                _check_int_list(f.name, value, meta["low"], meta["high"])
            elif meta["choices"] is not None:
                if value not in meta["choices"] or isinstance(value, bool):
                    raise RooflineInputError(f.name, f"got {shown(value)}", ", ".join(map(str, meta["choices"])))
            elif isinstance(f.default, float):
                _check_number(f.name, value, meta["low"], meta["high"], meta["open"])
            elif meta["low"] is not None:
                _check_int(f.name, value, meta["low"], meta["high"])
            elif f.name != "figure_dir" and not isinstance(value, str):  # model, hardware: validate() loads them
                raise RooflineInputError(f.name, f"must be a string, got {shown(value)}")
            elif f.name in TEXT_FIELDS:
                _check_text(f.name, value)

    def resolved(self) -> "ReportParameters":
        """The same parameters with each model, device and draft named once and for all: a path as an
        absolute path (relative ones against the current folder), a preset or catalog name as given.

        A value is a path when it looks like one: it contains a path separator, starts with ``~``,
        or ends with .json/.yaml/.yml; a model (or draft) that is not a preset name may also be an
        existing folder holding a config.json. A preset or catalog name therefore always means the
        preset, whatever files the current folder holds: write ``./llama-7b`` to mean a folder
        named like a preset. The notebooks receive exactly these values."""
        from .models import preset_names

        presets = set(preset_names())

        def is_folder(value: str) -> bool:
            try:
                return Path(value).is_dir()
            except OSError:
                return False

        def model_path(value: str) -> str:
            if not value.strip():  # empty: load_model's own error lists the presets
                return value
            if looks_like_path(value) or (value.strip().lower() not in presets and is_folder(value)):
                return str(Path(value).expanduser().absolute())
            return value

        hardware = self.hardware
        if hardware.lower().endswith(PATH_SUFFIXES):
            hardware = str(Path(hardware).expanduser().absolute())
        draft = self.draft_model if self.draft_model in ("auto", "none") else model_path(self.draft_model)
        return replace(self, model=model_path(self.model), hardware=hardware, draft_model=draft)


    def validate(self, report: bool = True) -> None:
        """Everything a render (or, ``report=False``, a table) needs, checked before any kernel starts:
        the model and the device load, the bit widths have a compute roof on the device, tensor
        parallelism splits the model and the device has a link for it; for a report also that the
        acceptance fits the tree, the draft model shares the target's vocabulary and the
        measurement run exists."""
        from .hardware import get_hardware
        from .operators import check_tensor_parallel
        from .roofline import link_bandwidth, peak_flops

        self = self.resolved()  # what the notebooks will load, loaded the way they will load it
        model, hardware, workload = load_resolved_model(self.model), get_hardware(self.hardware), self.workload()
        peak_flops(hardware, workload)
        check_tensor_parallel(model, self.tp)
        link_bandwidth(hardware, workload)
        if not report:
            return
        if self.acceptance > self.tree_size:
            raise RooflineInputError("acceptance", f"{self.acceptance:g} tokens per step from a tree of "
                                     f"{self.tree_size}", f"1 to {self.tree_size} (--tree-size)")
        draft = self.draft()
        if draft is not None:
            from .speculative import check_draft

            try:
                draft_model = load_resolved_model(draft)
            except RooflineInputError as exc:  # name the flag the user gave, not 'model'
                raise RooflineInputError("draft_model", str(exc).split(": ", 1)[-1]) from None
            check_draft(model, draft_model, self.tp)
        check_measured_device(self.measured_device)
        if not self.remeasure:
            from .measure import shipped_runs

            if self.measurement_run not in shipped_runs():
                raise RooflineInputError("measurement_run", f"no shipped run {shown(self.measurement_run)}",
                                         ", ".join(shipped_runs()) or "none")

    def checkpoint_weights(self) -> bool:
        """Whether the weight fields come from the model's quantization_config: weights_from is
        'checkpoint', the model has one, and no weight field is set away from its default."""
        from .quantization import WEIGHT_FIELDS

        defaults = {f.name: f.default for f in fields(self)}
        if self.weights_from != "checkpoint" or any(getattr(self, name) != defaults[name] for name in WEIGHT_FIELDS):
            return False
        return self.model_config().quantization is not None

    def model_config(self):
        """The model, loaded as the notebooks load it."""
        return load_resolved_model(self.resolved().model)

    def weight_source(self, given: str = "the weight_* parameters") -> str:
        """Which weight format the numbers use and where it comes from, in one sentence."""
        from .quantization import weight_source

        return weight_source(self.model_config(), self.workload(), self.checkpoint_weights(), given)

    def workload(self):
        """The Workload these parameters describe; the model's quantization_config sets its weight
        fields when :meth:`checkpoint_weights`."""
        work = self._given_workload()
        if self.checkpoint_weights():
            from .quantization import checkpoint_workload

            work = checkpoint_workload(self.model_config(), work)
        return work

    def _given_workload(self):
        from .workload import Workload

        return Workload(batch=self.batch, seq_len=self.seq_len, weight_bits=self.weight_bits,
                        act_bits=self.act_bits, kv_bits=self.kv_bits, attention_io=self.attention_io,
                        tp=self.tp, tree_size=self.tree_size, medusa_heads=self.medusa_heads,
                        compute_precision=None if self.compute_precision == "auto" else self.compute_precision,
                        weight_group_size=self.weight_group_size, weight_scale_bits=self.weight_scale_bits,
                        weight_zero_point=self.weight_zero_point, quantize_head=self.quantize_head,
                        quantize_stream=self.quantize_stream, mla=self.mla, output_len=self.output_len,
                        gpu_memory_utilization=self.gpu_memory_utilization)

    def draft(self) -> str | None:
        """The draft model to compare: the one named, the smallest preset with the target's
        vocabulary for 'auto' (None when there is none), None for 'none'."""
        if self.draft_model == "none":
            return None
        if self.draft_model == "auto":
            from .speculative import default_draft

            return default_draft(self.model, self.tp)
        return self.draft_model

    def values(self) -> dict:
        """Every field and its value: what papermill injects into the ``parameters`` cells."""
        return asdict(self)

    def stem(self) -> str:
        """A file-name stem: readable for the common parameters, and distinct for every parameter set.

        ``model_hardware_b1_s1024`` for the defaults; bit widths, tp and unfused attention add
        ``_w8a8kv8``, ``_tp2``, ``_unfused``; anything else that differs from the defaults (a config
        file's full path, the output length, the sweeps, ...) adds a short hash of those values, so
        two different renders never write the same files.
        """
        self = self.resolved()
        model_name, hardware_name = _file_label(self.model), _file_label(self.hardware)
        bits = "" if (self.weight_bits, self.act_bits, self.kv_bits) == (16, 16, 16) else \
            f"_w{self.weight_bits}a{self.act_bits}kv{self.kv_bits}"
        tp = f"_tp{self.tp}" if self.tp > 1 else ""
        fused = "_unfused" if self.attention_io == "unfused" else ""
        readable = f"{model_name}_{hardware_name}_b{self.batch}_s{self.seq_len}{bits}{tp}{fused}"
        readable = re.sub(r"[^A-Za-z0-9._-]", "-", readable).lstrip(".-") or "report"
        shown = {"model", "hardware", "batch", "seq_len", "weight_bits", "act_bits", "kv_bits", "tp",
                 "attention_io", "figure_dir"}
        defaults = ReportParameters()
        rest = {name: value for name, value in self.values().items()
                if name not in shown and value != getattr(defaults, name)}
        for name in ("model", "hardware", "draft_model"):  # a path is named by its real path: two dirs, two stems
            value = getattr(self, name)
            if looks_like_path(value):
                rest[name] = str(Path(value).resolve())
            elif len(value) > MAX_STEM_NAME_CHARS:  # cut in the readable part: the hash tells them apart
                rest[name] = value
        if not rest:
            return readable
        import hashlib

        digest = hashlib.sha256(repr(sorted(rest.items())).encode()).hexdigest()[:8]
        return f"{readable}_{digest}"


def check_measured_device(value: str) -> None:
    """'auto', 'none' or a catalog key with measured kernels (the shipped extract's, the database's)."""
    if value in ("auto", "none"):
        return
    from .measure.extract import measured_devices

    if value not in measured_devices():
        raise RooflineInputError("measured_device", f"no measured kernels for {value!r}",
                                 "auto, none, " + ", ".join(measured_devices()))


def looks_like_path(value: str) -> bool:
    """A model, device or draft given as a path rather than a name (see ReportParameters.resolved)."""
    return "/" in value or os.sep in value or value.startswith("~") or value.lower().endswith(PATH_SUFFIXES)


def load_resolved_model(value: str):
    """A resolved model value loaded as the notebooks load it: a preset name is the preset even
    when the current folder holds a folder of that name."""
    from .models import from_hf_config, preset

    return from_hf_config(value) if os.path.isabs(value) else preset(value)


def _file_label(value: str) -> str:
    """The readable name of a model or device in an output file name."""
    if not looks_like_path(value):
        return value[:MAX_STEM_NAME_CHARS]
    path = Path(value)
    label = path.parent.name if path.name == "config.json" else path.stem if path.suffix else path.name
    return label[:MAX_STEM_NAME_CHARS]


def _check_text(name: str, value: str) -> None:
    """A name or path a render will use in files, titles and the kernel: bounded, printable, UTF-8."""
    path = looks_like_path(value)
    limit = MAX_PATH_CHARS if path else MAX_NAME_CHARS
    if len(value) > limit:
        raise RooflineInputError(name, f"is {len(value):,} characters long: {shown(value)}",
                                 f"at most {limit:,} characters")
    control = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if control is not None:
        raise RooflineInputError(name, f"contains the control character U+{ord(control):04X}: {shown(value)}",
                                 "printable characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a file name with bytes that are not UTF-8 arrives as lone surrogates
        raise RooflineInputError(name, f"is not valid UTF-8: {shown(value)}",
                                 "a name or path whose characters are UTF-8") from None
    longest = max(Path(value).parts or ("",), key=lambda part: len(part.encode()))
    if len(longest.encode()) > MAX_PART_BYTES:
        raise RooflineInputError(name, f"has a file or folder name of {len(longest.encode()):,} bytes: "
                                 f"{shown(value)}", f"names of at most {MAX_PART_BYTES} bytes")


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RooflineInputError(name, f"must be an integer from {low:,} to {high:,}, got {shown(value)}")


def _check_number(name: str, value, low: float, high: float, open_range: bool) -> None:
    number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not number or not ((low < value < high) if open_range else (low <= value <= high)):
        between = f"strictly between {low:g} and {high:g}" if open_range else f"from {low:g} to {high:,g}"
        raise RooflineInputError(name, f"must be a number {between}, got {shown(value)}")


def _check_int_list(name: str, values, low: int, high: int) -> None:
    if not isinstance(values, (list, tuple)) or not values or len(values) > MAX_SWEEP_VALUES:
        raise RooflineInputError(name, f"must be a list of 1 to {MAX_SWEEP_VALUES} integers from {low:,} to "
                                 f"{high:,}, got {shown(values)}")
    for value in values:
        _check_int(name, value, low, high)


def schema() -> list:
    """The schema's fields, in order (for the CLI and the notebooks' ``parameters`` cells)."""
    return list(fields(ReportParameters))

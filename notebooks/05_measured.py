# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Measured vs predicted: the roofline checked against real machines
#
# A roofline is a claim about the fastest an operator can run. Here it is tested twice. First on GPUs:
# NVIDIA measured the kernels servers run (GEMMs and fused attention, with vLLM, SGLang and TensorRT-LLM)
# on the GPUs it sells, and the report's operators are timed by those kernels and held against the
# datasheet roofs. Then on the machine at hand: its ceilings are measured, the model's own operators are
# timed at their real shapes, and each is compared with the time the same counting predicts **under the
# measured ceilings**. A measured time below the prediction would mean the counting is wrong; how far
# above it says how tight the bound is.

# %% tags=["parameters"]
model = "llama-33b"
hardware = "a40"
batch = 1
seq_len = 1024
measured_device = "auto"  # the GPU whose measured kernels are shown (`roofline list measured`)
measured_framework = "vllm"
measurement_run = "llama-33b_cpu-2core_numpy-float32.csv"  # a shipped run (`roofline list runs`)
remeasure = False  # True: measure this machine now instead of reading the shipped run

# %%
import roofline_utils as rl
from roofline_utils import findings, measure, plot, tables
from roofline_utils.measure import empirical, gpu
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))
section = gpu.gpu_section(r.model, r.hardware, r.workload, r.params.measured_device, r.params.measured_framework)

# %% [markdown]
# ## Measured on a GPU
#
# NVIDIA's aiconfigurator collects kernel timings on real GPUs: every bf16 GEMM of a grid of shapes, and
# fused (FlashAttention-style) prefill and decode attention over batch × length. The report's operators
# are looked up in those tables at their own shapes (a shape between grid points is interpolated in log
# space, its error measured in `benchmarks/kernel_interpolation.py`). Only the GEMMs and the attention
# have tables; norms, RoPE, SwiGLU and residual adds keep their roofline time wherever a total needs them.

# %%
tables.show_markdown(section.intro)

# %% tags=["nbval-ignore-output"]
tables.show_markdown(gpu.source_note(section))

# %%
tables.show_markdown(gpu.subsection(section, "chart"))

# %% tags=["nbval-ignore-output"]
if section.points is not None:
    plot.show(plot.measured_gpu_chart(section.points, section.hardware, gpu.peak(section),
                                      gpu.chart_title(section, r.model)),
              alt=gpu.describe_chart(section),
              caption="Measured (filled) against predicted (hollow) under the datasheet roofs (dashed).")

# %%
tables.show_markdown(gpu.subsection(section, "ratios"))

# %%
if section.ratios is not None:
    tables.show(gpu.ratio_table(section.ratios), caption="Measured time / roofline time per group")

# %%
tables.show_markdown(gpu.subsection(section, "cloud"))

# %% tags=["nbval-ignore-output"]
if section.cloud is not None:
    plot.show(plot.gemm_cloud_chart(section.cloud, section.hardware, section.hardware.peak("bf16"),
                                    f"Measured bf16 GEMMs of the {section.hardware.name}"),
              alt=gpu.describe_cloud(section), caption="Measured GEMMs under the datasheet roofs, by working set.")

# %%
tables.show_markdown(gpu.subsection(section, "reading"))

# %%
tables.show_markdown("\n".join(f"- {sentence}" for sentence in gpu.reading(section)))

# %%
tables.show_markdown(gpu.subsection(section, "end_to_end"))

# %%
tables.show_markdown("\n".join(f"- {sentence}" for sentence in gpu.end_to_end_reading(
    section, r.model, r.workload, r.params.seq_len, r.params.output_len)))

# %% [markdown]
# ## Measure your own machine
#
# The same check on the machine at hand (`--remeasure`; a GPU with PyTorch and CUDA when present, else the
# CPU with NumPy). Shown here: a shipped run.

# %%
if remeasure:
    backend = measure.TorchBackend("cuda") if measure.torch_cuda_available() else measure.NumpyBackend()
    run = measure.measure_model(r.model, [("decode", batch, seq_len), ("prefill", 1, min(seq_len, 512))], backend)
else:
    run = measure.load_shipped(findings.measurement_for(r.model, measurement_run))
tables.show(rl.summary.run_table(run), caption="Where and how this run was measured")
tables.show_markdown(markdown(findings.measured_source(run, r.model, r.hardware)))

# %% [markdown]
# ### The empirical roofline
#
# Solid lines: the **achieved** ceilings. Hollow markers: the roofline's prediction for each operator group at
# each measured setting; filled markers (the group's shape): what was measured.

# %% tags=["nbval-ignore-output"]
flops_ceiling, bytes_ceiling = run.ceilings
device = empirical.datasheet_device(run)
measured = empirical.measured_points(run)
figure = plot.empirical_chart(measured, flops_ceiling, bytes_ceiling,
                              f"Measured vs predicted: {findings.model_display_name(run.metadata.get('model', '?'))} "
                              f"on {run.metadata.get('device')}",
                              datasheet=device, datasheet_peak=device.peak("fp16") if device else None)
plot.show(figure, alt=f"Empirical roofline of {run.metadata.get('device')}: achieved ceilings of "
                      f"{flops_ceiling / 1e9:.4g} GFLOP/s and {bytes_ceiling / 1e9:.4g} GB/s, with {len(measured)} "
                      "predicted hollow markers and the measured filled markers.",
          caption="Measured (filled) against predicted (hollow) under the achieved ceilings (solid).")

# %%
tables.show_markdown(empirical.markers_sentence(measured))

# %% [markdown]
# ### Measured / predicted time, per operator

# %%
tables.show(empirical.ratio_table(run), caption="Measured time / predicted time over the run's settings")

# %% [markdown]
# ### The honest reading
#
# Computed from the run: where the roofline is tight, where it is loose, and why.

# %%
tables.show_markdown("\n".join(f"- {sentence}" for sentence in empirical.reading(run)))

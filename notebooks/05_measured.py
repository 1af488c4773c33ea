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
# # 5. Measured vs predicted: the roofline checked against a real machine
#
# A roofline is a claim about the fastest an operator can run. Here it is tested: the machine's
# ceilings are measured (a large GEMM for FLOP/s, streaming kernels for bandwidth, best of several
# repeats, working sets far above the caches), the model's own operators are timed at their real
# shapes, and each is compared with the time the same counting predicts **under the measured
# ceilings**. A measured time below the prediction would mean the counting is wrong; how far above it
# says how tight the bound is.

# %% tags=["parameters"]
model = "llama-33b"
hardware = "a40"
batch = 1
seq_len = 1024
measurement_run = "llama-33b_cpu-2core_numpy-float32.csv"  # a shipped run (`roofline list runs`)
remeasure = False  # True: measure this machine now instead of reading the shipped run

# %%
import roofline_utils as rl
from roofline_utils import findings, measure, plot, tables
from roofline_utils.measure import empirical
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))
if remeasure:
    backend = measure.TorchBackend("cuda") if measure.torch_cuda_available() else measure.NumpyBackend()
    run = measure.measure_model(r.model, [("decode", batch, seq_len), ("prefill", 1, min(seq_len, 512))], backend)
else:
    run = measure.load_shipped(findings.measurement_for(r.model, measurement_run))

# %%
tables.show(rl.summary.run_table(run), caption="Where and how this run was measured")
tables.show_markdown(markdown(findings.measured_source(run, r.model, r.hardware)))

# %% [markdown]
# ## The empirical roofline
#
# Solid lines: the **achieved** ceilings. Hollow markers: the roofline's prediction for each operator group at
# each measured setting; filled markers (the group's shape): what was measured. A filled marker sits on or below its hollow one.

# %% tags=["nbval-ignore-output"]
flops_ceiling, bytes_ceiling = run.ceilings
device = empirical.datasheet_device(run)
measured = empirical.measured_points(run)
figure = plot.empirical_chart(measured, flops_ceiling, bytes_ceiling,
                              f"Measured vs predicted ({run.metadata.get('model')}, {run.metadata.get('device')})",
                              datasheet=device, datasheet_peak=device.peak("fp16") if device else None)
plot.show(figure, alt=f"Empirical roofline of {run.metadata.get('device')}: achieved ceilings of "
                      f"{flops_ceiling / 1e9:.4g} GFLOP/s and {bytes_ceiling / 1e9:.4g} GB/s, with {len(measured)} "
                      "predicted hollow markers and measured filled markers at or below them.",
          caption="Measured (filled) against predicted (hollow) under the achieved ceilings (solid).")

# %% [markdown]
# ## Measured / predicted time, per operator

# %%
tables.show(empirical.ratio_table(run), caption="Measured time / predicted time over the run's settings")

# %% [markdown]
# ## The honest reading
#
# Computed from the run: where the roofline is tight, where it is loose, and why.

# %%
tables.show_markdown("\n".join(f"- {sentence}" for sentence in empirical.reading(run)))

"""How fast the engine evaluates configurations: one vectorised call per (model, hardware) vs a
plain Python loop over the scalar path, measured in the same run.

    .venv/bin/python benchmarks/engine_speed.py            # 100,000 configurations
    .venv/bin/python benchmarks/engine_speed.py --scalar-sample 500

A configuration is (model, hardware, batch, length, precision); each is evaluated in both
phases (prefill totals and one decode step). The scalar loop is timed on a random sample and
its per-configuration time is extrapolated; the sample's results are also checked against
the vectorised ones. Pin to one core for the target (taskset -c 0 ...).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from roofline_utils import Workload, get_hardware, load_model
from roofline_utils.roofline import phase_arrays

MODELS = ("llama-7b", "llama-2-70b", "llama-3.1-8b", "mixtral-8x7b", "qwen2.5-7b")
HARDWARE = ("a40", "a100-80gb-sxm", "h100-sxm", "l40s")
BATCHES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024])
LENGTHS = np.unique(np.round(np.geomspace(64, 32768, 50)).astype(int))
PRECISIONS = ((16, 16, 16), (8, 8, 8), (4, 16, 16), (8, 16, 8), (4, 16, 8))  # weight, act, kv bits


def grid() -> dict[str, np.ndarray]:
    batch, length, precision = np.meshgrid(BATCHES, LENGTHS, np.arange(len(PRECISIONS)), indexing="ij")
    bits = np.array(PRECISIONS)[precision.ravel()]
    return {"batch": batch.ravel(), "seq_len": length.ravel(),
            "weight_bits": bits[:, 0], "act_bits": bits[:, 1], "kv_bits": bits[:, 2]}


def evaluate(model, hardware, workload: Workload) -> tuple[np.ndarray, np.ndarray]:
    return (phase_arrays(model, hardware, workload, "prefill")["time_s"],
            phase_arrays(model, hardware, workload, "decode")["time_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalar-sample", type=int, default=1000, help="configurations timed in the scalar loop")
    parser.add_argument("--repeats", type=int, default=5, help="best-of repeats for the vectorised run")
    args = parser.parse_args()
    models = [load_model(m) for m in MODELS]
    devices = [get_hardware(h) for h in HARDWARE]
    columns = grid()
    per_pair = len(columns["batch"])
    total = per_pair * len(models) * len(devices)

    best, results = float("inf"), {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        workload = Workload(**columns)
        for model in models:
            for device in devices:
                results[model.name, device.key] = evaluate(model, device, workload)
        best = min(best, time.perf_counter() - start)

    rng = np.random.default_rng(0)
    sample = [(models[rng.integers(len(models))], devices[rng.integers(len(devices))], int(rng.integers(per_pair)))
              for _ in range(args.scalar_sample)]
    start = time.perf_counter()
    scalar = [evaluate(model, device, Workload(**{k: int(v[i]) for k, v in columns.items()}))
              for model, device, i in sample]
    scalar_s = (time.perf_counter() - start) / len(sample)
    for (model, device, i), (prefill, decode) in zip(sample, scalar):
        vector_prefill, vector_decode = results[model.name, device.key]
        assert np.isclose(prefill, vector_prefill[i], rtol=1e-12) and np.isclose(decode, vector_decode[i], rtol=1e-12)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    print(f"configurations: {total:,} = {len(models)} models x {len(devices)} devices x {len(BATCHES)} batches "
          f"x {len(LENGTHS)} lengths x {len(PRECISIONS)} precisions (prefill + one decode step each)")
    print(f"vectorised: {best:.3f} s for all (best of {args.repeats}), {total / best:,.0f} configurations/s")
    print(f"scalar loop: {scalar_s * 1e3:.3f} ms per configuration (sample of {len(sample):,}), "
          f"{1 / scalar_s:,.0f} configurations/s, {scalar_s * total:.1f} s extrapolated to all")
    print(f"speed-up: {scalar_s * total / best:,.0f}x (target >= 100x; target time < 1 s: "
          f"{'met' if best < 1 else 'missed'})")
    print(f"sample results agree with the vectorised ones: {len(sample):,} of {len(sample):,}")


if __name__ == "__main__":
    main()

"""Shared fixtures, and nbval's comparison settings for the committed notebooks."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "data" / "llm_viewer"


def pytest_collectstart(collector):
    """nbval compares the text outputs; rich mimetypes carry no numbers we have not printed as text."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "image/png", "image/svg+xml",
                                   "application/vnd.jupyter.widget-view+json", "stderr")


@pytest.fixture
def llama33b_config_json(tmp_path) -> Path:
    """The config.json LLM-Viewer was run with (shared/reference/README.md), written to a folder."""
    folder = tmp_path / "Llama-33b-local"
    folder.mkdir()
    (folder / "config.json").write_text("""{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
     "hidden_size": 6656, "intermediate_size": 17920, "num_attention_heads": 52,
     "num_key_value_heads": 52, "num_hidden_layers": 60, "vocab_size": 32000,
     "max_position_embeddings": 2048, "hidden_act": "silu", "rms_norm_eps": 1e-06,
     "torch_dtype": "float16", "tie_word_embeddings": false}""")
    return folder / "config.json"


def assert_table_is_finite(name: str, device: str, tmp_path, capsys) -> None:
    """`roofline table --model name` at 4,096 tokens exits 0, prints no traceback, and every number it writes is
    finite and non-negative (the check each family's presets share)."""
    import numpy as np
    import pandas as pd

    from roofline_utils.cli import main

    out = tmp_path / "t.csv"
    assert main(["table", "--model", name, "--hardware", device, "--seq-len", "4096", "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    numbers = pd.read_csv(out).select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all() and (numbers >= 0).all()

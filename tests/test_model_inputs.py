"""Unbounded inputs to the model loader end in one short line naming `model` or the field (issue 20, defect 7)."""
import json

import pytest

from roofline_utils.errors import RooflineInputError
from roofline_utils.errors import SHOWN_CHARS
from roofline_utils.models import MAX_CONFIG_BYTES, from_hf_config, load_model

LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
         "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}


def test_a_30_gb_sparse_config_is_refused_by_its_size(tmp_path):
    path = tmp_path / "config.json"
    with path.open("wb") as file:
        file.truncate(30 * 10**9)  # sparse: no disk used, and reading it whole would need 30 GB of memory
    with pytest.raises(RooflineInputError, match=r"^model: .*larger than 1,000,000 bytes") as err:
        load_model(str(tmp_path))
    assert "\n" not in str(err.value)


def test_a_config_just_under_the_cap_is_read(tmp_path):
    text = json.dumps(LLAMA)
    path = tmp_path / "config.json"
    path.write_text(text + " " * (MAX_CONFIG_BYTES - len(text)))  # exactly the cap: allowed
    assert from_hf_config(path).hidden_size == 64


def test_a_70_million_element_list_is_shown_cut_short(tmp_path):
    config = dict(LLAMA, hidden_size=[0] * 70_000_000)
    with pytest.raises(RooflineInputError, match=r"^hidden_size: ") as err:
        from roofline_utils.models import model_from_dict
        model_from_dict(config, "m")
    # the field name, the fixed wording and at most SHOWN_CHARS of the value: far below 1 kB
    assert len(str(err.value)) < 200 + SHOWN_CHARS


@pytest.mark.parametrize("name", ["a" * 300, "x/" + "b" * 300, "c" * 300 + ".json"])
def test_a_name_longer_than_the_file_system_allows_names_model(name):
    with pytest.raises(RooflineInputError, match=r"^model: ") as err:
        load_model(name)
    message = str(err.value)
    assert "\n" not in message and len(message) < 1000


def test_a_context_beyond_max_position_embeddings_is_a_note():
    from roofline_utils.models import context_notes, preset
    model = preset("llama-33b")  # max_position_embeddings 2,048 in its config
    assert context_notes(model, 2048) == ()
    assert context_notes(model, 1024, 1024) == ()  # 1,024 + 1,024 = 2,048: exactly the context
    (note,) = context_notes(model, 1024, 1025)
    assert "2,049" in note and "2,048" in note and "max_position_embeddings" in note
    assert model.sweep_limit() == 2048 and model.sweep_limit(output_len=48) == 2000


def test_titles_come_from_name_or_path_and_never_from_a_commit_hash(tmp_path):
    snapshot = tmp_path / "models--meta-llama--Llama-2-7b-hf" / "snapshots" / ("fe8a4ea1ffedaf" + "0" * 26)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(LLAMA))
    assert load_model(str(snapshot)).display_name == "Llama 2 7B Hf"  # the cache's repo folder, not the hash
    (snapshot / "config.json").write_text(json.dumps(dict(LLAMA, _name_or_path="org/My-Model-7b")))
    assert load_model(str(snapshot)).display_name == "My Model 7B"

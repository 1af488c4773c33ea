"""The fuzz script's in-process inputs (benchmarks/fuzz_inputs.py --quick): no traceback, nothing left
behind, no NaN/inf/negative number in an accepted output, every error one line naming its field."""
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_inputs.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_inputs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_quick_fuzz_is_clean(fuzz, capsys):
    code = fuzz.main_fuzz(["--quick"])
    report = capsys.readouterr().out
    assert int(report.split("inputs tried: ")[1].split()[0]) >= 150
    assert code == 0, report

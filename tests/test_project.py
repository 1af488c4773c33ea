"""Project plumbing: the two dependency lists agree (the README's commands: test_first_run.py)."""
import re
import tomllib

import yaml

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    # the 'kernels' extra (NVIDIA's whole kernel database, hundreds of MB) stays opt-in: environment.yml says how
    wanted |= {_name(r) for name, extra in project["optional-dependencies"].items() if name != "kernels" for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip = {_name(d) for block in env["dependencies"] if isinstance(block, dict) for d in block.get("pip", [])}
    assert wanted == (conda | pip) - {"python", "pip", "-e"}  # "-e ." installs the project itself


"""The project's own files: environment.yml in step with pyproject.toml, lint clean."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the PyPI packages where they differ
CONDA_NAMES = {"h3": "h3-py"}
# conda-only packages: what PyPI wheels bundle and conda-forge ships separately
CONDA_ONLY = {"coincbc"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_has_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"],
              *project["optional-dependencies"]["notebooks"]]  # fmt: skip
    pypi = {CONDA_NAMES.get(_name(r), _name(r)) for r in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    from_pip = {_name(r) for r in pip if not r.startswith("-")}
    assert pypi == (conda - CONDA_ONLY) | from_pip


def test_version_is_read_from_the_installed_metadata():
    import svcnet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert svcnet.__version__ in (project["version"], "0+unknown")


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "src", "tests", "scripts", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

"""The package layout keeps its promises: the report (model and Markdown) never reaches GitLab
or the sinks, so data flows one way, detect -> execute -> report -> publish."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import runner.report

REPORT_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(runner.report.__path__, "runner.report."))


def test_the_report_package_has_modules() -> None:
    assert "runner.report.runs" in REPORT_MODULES
    assert "runner.report.gates.base" in REPORT_MODULES


@pytest.mark.parametrize("module", ["runner.report", *REPORT_MODULES])
def test_report_modules_import_neither_gitlab_nor_the_sinks(module: str) -> None:
    """Each module alone, in a fresh interpreter: nothing of python-gitlab, our adapter of it,
    ``runner.publish`` or ``runner.execute`` (report reads only the ``runner.metrics`` contract)
    is loaded on the way."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m == 'gitlab' or m.startswith('gitlab.') "
            "or m == 'runner.gitlab_client' or m == 'runner.publish' "
            "or m.startswith('runner.publish.') or m == 'runner.execute' "
            "or m.startswith('runner.execute.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], check=True)
    assert done.stdout.strip() == "[]"

"""The package's layers import one way and no modules import each other in a circle: the
contracts of .importlinter (forbidden imports per layer, acyclic_siblings for circles), checked
by import-linter. Breaking either (config importing modeling; engine.metrics_log importing
engine.phases, which imports it) was seen to fail this test before it was trusted."""

import os
import shutil
import subprocess
import sys

from tests.conftest import REPO


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert exe, "lint-imports not found: pip install import-linter (requirements.txt)"
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([exe, "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout and "no import circle" in proc.stdout, proc.stdout

"""The commands that do not train start without the engine's heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.faults.clitools import make_run

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("skopt", "sklearn", "scipy", "tensorflow", "numpy", "textual")

PROBE = """
import sys
import hptui.cli as cli
cli.build_parser()
rc = cli.main(sys.argv[1:])
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY", ",".join(heavy))
sys.exit(rc)
"""


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )


def test_read_commands_import_nothing_heavy(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    for args in (["runs"], ["show", str(run_id)], ["export", str(run_id)]):
        out = _probe(*args, "--db", str(db))
        assert out.returncode in (0, 1), out.stderr
        assert "HEAVY \n" in out.stdout or out.stdout.rstrip().endswith("HEAVY"), (args, out)
    help_out = _probe("--help")
    assert "HEAVY" not in help_out.stdout  # argparse exits before; the parser alone is light
    assert help_out.returncode == 0


def test_steering_commands_do_not_import_the_search(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    out = _probe("pause", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("HEAVY")
    for mod in ("skopt", "sklearn", "scipy", "tensorflow", "textual"):
        assert mod not in line, line

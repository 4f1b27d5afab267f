"""Every Python block of README.md runs on its own, as a reader would paste it.

Each block runs in a fresh interpreter, in an empty temporary directory (the
snippets write files such as ``model.skops``), with every warning turned into
an error: a snippet that needs a name from another block, or that warns, fails.
A block whose imports are not installed (an extra such as ``plot`` or
``persist``, or scikit-learn's ``sklearn.callback`` before 1.9) is skipped.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    """``(id, code)`` of every Python block; the id names the section and the line."""
    blocks = []
    for match in BLOCK.finditer(README):
        line = README.count("\n", 0, match.start()) + 1
        headings = re.findall(r"^#+ (.+)$", README[: match.start()], re.MULTILINE)
        section = re.sub(r"\W+", "-", headings[-1]).strip("-").lower() if headings else "top"
        blocks.append((f"{section}-line{line}", match.group(1)))
    return blocks


BLOCKS = _blocks()


def _missing_modules(code: str) -> list[str]:
    missing = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            try:
                found = importlib.util.find_spec(name) is not None
            except ImportError:  # a parent package is missing
                found = False
            if not found:
                missing.append(name)
    return missing


def test_there_are_blocks_to_run():
    assert len(BLOCKS) >= 5


def test_the_two_setup_commands_are_unchanged():
    # The README promises these two lines on a fresh machine: keep them copy-paste exact.
    assert "```bash\npython -m pip install -e . && python -m gdreg\n```" in README
    assert '```bash\npython -m pip install -e ".[dev]" && python -m pytest\n```' in README


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[i for i, _ in BLOCKS])
def test_readme_block_runs_alone_without_warnings(code, tmp_path):
    missing = _missing_modules(code)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-W", "error::Warning", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr

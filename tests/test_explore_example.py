"""examples/explore.py writes its whole gallery (tiny run)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.needs_jit
def test_explore_writes_the_gallery(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "explore.py"), "--limit",
                             "600", "--test-limit", "300", "--out", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    pictures = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pictures == sorted(["digits.png", "curves.png", "filters.png", "feature_maps.png",
                               "gradients.png", "confusion.png", "misclassified.png",
                               "gradient_stats.png"])
    page = (tmp_path / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in pictures)
    assert all((tmp_path / name).stat().st_size > 5000 for name in pictures)

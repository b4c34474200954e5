"""The distribution installs one top-level package, so nothing of ours shadows a PyPI name like `validators`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_has_exactly_one_top_level_package():
    dist = metadata.distribution("agentfab")
    owned = {name for name, dists in metadata.packages_distributions().items() if "agentfab" in dists}
    assert owned == {"agentfab"}, owned
    assert dist.entry_points.select(group="console_scripts", name="agentfab")


def test_no_folder_at_the_repo_root_is_an_importable_package_except_agentfab():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == {"agentfab"}


def test_running_from_the_repo_root_does_not_shadow_pypi_names():
    # With the repo root first on sys.path (as `python -c` from the root has it), these names must not resolve
    # to a folder of ours.
    code = (
        "import importlib.util, sys;"
        "names = ['validators', 'schemas', 'worlds', 'generators', 'formats', 'flows'];"
        "hits = [n for n in names if (s := importlib.util.find_spec(n)) and s.origin and s.origin.startswith(sys.argv[1])];"
        "print(','.join(hits))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_layers_import_one_way():
    # worlds build on schemas; generators and validators on worlds and schemas, never on each other.
    forbidden = {
        "worlds": ("agentfab.generators", "agentfab.validators", "agentfab.flows", "agentfab.formats"),
        "generators": ("agentfab.validators", "agentfab.flows", "agentfab.formats"),
        "validators": ("agentfab.generators", "agentfab.flows", "agentfab.formats"),
        "schemas": ("agentfab.worlds", "agentfab.generators", "agentfab.validators", "agentfab.flows",
                    "agentfab.formats"),
        "formats": ("agentfab.generators", "agentfab.validators", "agentfab.flows", "agentfab.worlds"),
    }
    for layer, bad in forbidden.items():
        for path in (ROOT / "agentfab" / layer).rglob("*.py"):
            text = path.read_text()
            for name in bad:
                assert f"from {name}" not in text and f"import {name}" not in text, f"{path} imports {name}"
    assert importlib.util.find_spec("agentfab.flows.cli") is not None

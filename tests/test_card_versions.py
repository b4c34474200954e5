"""The dataset card's Versions table: the lineage `agentfab versions` lists, a version being added as in progress."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from agentfab.flows.build import build, prepare_output
from agentfab.flows.cli import main
from agentfab.flows.lineage import version_seed
from agentfab.flows.recipe import load_recipe

RECIPE = "name: carded\nseed: 17\nrecords: 60\nshard_size: 30\nworlds: [bank, shop]\nnegatives: 0.2\n"
HEADER = ["version", "parent", "seed", "recipe hash", "shards added", "accepted", "rejected", "moved across shards",
          "contaminated", "complete"]


def _versions_table(card: str) -> list[dict[str, str]]:
    section = card.split("## Versions\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == HEADER
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def _cli_versions(out: Path) -> list[list[str]]:
    result = CliRunner().invoke(main, ["versions", str(out)])
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.output.splitlines()[1:] if re.match(r"\s+\d", line)]


def test_the_card_lists_every_version_as_agentfab_versions_does(prefect_harness, tmp_path: Path):
    path = tmp_path / "carded.yaml"
    path.write_text(RECIPE)
    out = tmp_path / "carded"
    first = build(path, out=out, workers=1)
    rows = _versions_table((out / "README.md").read_text())
    assert len(rows) == 1 and rows[0]["version"] == "1" and rows[0]["parent"] == "-"
    assert rows[0]["complete"].startswith("yes") and rows[0]["accepted"] == str(first["rows"]["accepted"])

    # an extension that has claimed the folder but not finished: listed, and not as complete
    recipe, recipe_dir = load_recipe(path, {})
    version, todo = prepare_output(recipe, out, False, recipe_dir, extend=True)
    assert (version, todo) == (2, [0, 1])
    rows = _versions_table((out / "README.md").read_text())
    assert [r["version"] for r in rows] == ["1", "2"]
    assert rows[1]["complete"] == "no: in progress" and rows[1]["seed"] == str(version_seed(17, 2))
    assert rows[1]["parent"] == "1" and rows[1]["shards added"] == "2"

    second = build(path, out=out, workers=1, extend=True)
    rows = _versions_table((out / "README.md").read_text())
    cli = _cli_versions(out)
    assert [r["version"] for r in rows] == [line[0] for line in cli] == ["1", "2"]
    for row, line, entry in zip(rows, cli, second["lineage"]):
        assert row["complete"].startswith("yes")
        assert [row["version"], row["parent"], row["seed"], row["shards added"], row["accepted"], row["rejected"]] \
            == line[:6]
        assert row["recipe hash"] == entry["recipe_hash"][:12]
    assert rows[1]["accepted"] == str(second["lineage"][1]["rows"]["accepted"])

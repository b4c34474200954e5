"""Domain synthesis: seeded declared domains from agentfab's vocabulary that validate, execute and build."""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from small_builds import make_build

from agentfab.flows.cli import main
from agentfab.flows.recipe import RecipeError, parse_recipe
from agentfab.flows.revalidate import revalidate
from agentfab.generators.domains import (RESERVED, SynthesisError, domain_names, domain_yaml, synthesize_domains,
                                         vocabulary)
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.worlds.core import is_error
from agentfab.worlds.declared import DeclaredDomainError, declared_domain_from_dict, load_declared_domain
from agentfab.worlds.declared_spec import pluralize, snake_case

API_NAME = re.compile(r"^(get|search|find|list|count|max|min|total|average|create|update|delete)_[a-z0-9_]+$")


def build(spec: dict):
    return declared_domain_from_dict(spec, source="synthesized", where=f"synthesized {spec['name']}")


def test_the_same_seed_gives_the_same_domains_and_a_longer_run_extends_a_shorter_one():
    assert synthesize_domains(12, 3) == synthesize_domains(12, 3)
    assert synthesize_domains(40, 3)[:12] == synthesize_domains(12, 3)
    assert synthesize_domains(12, 4) != synthesize_domains(12, 3)


def test_synthesis_does_not_depend_on_the_process_hash_seed():
    code = ("import hashlib; from agentfab.generators.domains import synthesize_domains, domain_yaml;"
            "print(hashlib.sha256(''.join(domain_yaml(d, seed=5) for d in synthesize_domains(45, 5)).encode())"
            ".hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    local = hashlib.sha256("".join(domain_yaml(d, seed=5) for d in synthesize_domains(45, 5)).encode()).hexdigest()
    assert digests == {local + "\n"}


def test_names_are_unique_use_every_theme_once_before_repeating_and_avoid_the_builtin_worlds():
    themes = set(vocabulary())
    names = domain_names(len(themes) * 3, 9)
    assert len(set(names)) == len(names)
    assert set(names[:len(themes)]) == themes
    assert not set(names) & RESERVED
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)


def test_every_synthesized_domain_validates_and_its_tools_read_like_an_api():
    specs = synthesize_domains(len(vocabulary()) + 5, 1)
    for spec in specs:
        domain = build(spec)
        assert len(domain.tools) >= 10, spec["name"]
        for t in domain.tools:
            assert API_NAME.match(t.name), t.name
            assert t.spec.source == "synthesized" and t.spec.domain == spec["name"]
            jsonschema.Draft202012Validator.check_schema(t.spec.parameters)
            assert not re.search(r"\d", t.name.replace("_", "")), t.name  # no entity7_get
        assert spec["description"].endswith(".") and len(spec["description"]) > 20


def test_a_domain_is_coherent_one_theme_with_its_references_closed():
    vocab = vocabulary()
    for spec in synthesize_domains(60, 2):
        theme = next(vocab[t] for t in sorted(vocab, key=len, reverse=True) if spec["name"].startswith(t))
        assert set(spec["entities"]) <= set(theme["entities"]), spec["name"]
        for entity in spec["entities"].values():
            for f in entity["fields"].values():
                if "ref" in f:
                    assert f["ref"] in spec["entities"]


def test_synthesized_tools_execute_against_seeded_state():
    rng = random.Random(4)
    for spec in synthesize_domains(6, 11):
        domain = build(spec)
        store = domain.seeded(5)
        pools = PoolCache(domain, store)
        ok = 0
        for t in domain.tools:
            result = t.invoke(store.fork(), sample_arguments(t, pools, rng))
            if not is_error(result):
                jsonschema.validate(result, t.spec.returns)
                ok += 1
        assert ok >= len(domain.tools) * 0.6, spec["name"]


def test_the_yaml_files_read_back_to_the_same_domain(tmp_path):
    for spec in synthesize_domains(3, 8):
        path = tmp_path / f"{spec['name']}.yaml"
        path.write_text(domain_yaml(spec, seed=8))
        assert yaml.safe_load(path.read_text()) == spec
        again = load_declared_domain(path)
        assert [t.spec.parameters for t in again.tools] == [t.spec.parameters for t in build(spec).tools]


def test_the_cli_writes_one_validated_file_per_domain(tmp_path):
    result = CliRunner().invoke(main, ["domains", "synthesize", "--n", "4", "--seed", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("*.yaml"))
    assert [f.stem for f in files] == sorted(domain_names(4, 2))
    assert "wrote 4 domains" in result.output
    for f in files:
        assert "# Synthesized by `agentfab domains synthesize` (seed 2)" in f.read_text()
        load_declared_domain(f)


def test_the_cli_refuses_a_bad_count_on_one_line(tmp_path):
    result = CliRunner().invoke(main, ["domains", "synthesize", "--n", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --n: must be 1..5000, got 0"
    with pytest.raises(SynthesisError):
        synthesize_domains(5001, 0)


@pytest.mark.parametrize("world, message", [
    ({"synthesize": {"domains": 0}}, "r.yaml: worlds[0].synthesize.domains: must be >= 1, got 0"),
    ({"synthesize": {"domains": 9000}}, "r.yaml: worlds[0].synthesize.domains: must be <= 5000, got 9000"),
    ({"synthesize": {"domain": 3}}, "r.yaml: worlds[0].synthesize.domain: unknown key (allowed: domains, seed)"),
    ({"synthesize": {"domains": 3, "seed": -1}}, "r.yaml: worlds[0].synthesize.seed: must be >= 0, got -1"),
])
def test_recipe_errors_name_the_synthesize_field(world, message):
    with pytest.raises(RecipeError) as err:
        parse_recipe({"name": "r", "records": 5, "worlds": ["bank", world]}, "r.yaml")
    assert message.replace("worlds[0]", "worlds[1]") in str(err.value).splitlines()


def test_two_domains_with_one_name_are_refused(tmp_path):
    from agentfab.flows.worlds import expand_worlds

    recipe = parse_recipe({"name": "r", "records": 5, "worlds": [
        {"declared": str(Path(__file__).resolve().parents[1] / "data" / "domains" / "clinic.yaml")},
        {"synthesize": {"domains": len(vocabulary()), "seed": 1}}]})
    with pytest.raises(DeclaredDomainError, match=r"worlds\[0\] and worlds\[1\] both define a domain named 'clinic'"):
        expand_worlds(recipe.worlds, tmp_path)


def test_combine_values_are_validated_by_field():
    spec = {"name": "shop2", "entities": {"Item": {"count": 10, "fields": {
        "label": {"type": "string", "combine": [["Red", "Blue"], ["Hat", "Cap"]], "unique": True}}}}}
    with pytest.raises(DeclaredDomainError, match=r"entities\.Item\.fields\.label\.combine: 4 combinations are too "
                                                  r"few for 10 unique values"):
        declared_domain_from_dict(spec, where="x")
    spec["entities"]["Item"]["fields"]["label"]["combine"] = [["Red", "Red"]]
    with pytest.raises(DeclaredDomainError, match="lists of distinct words"):
        declared_domain_from_dict(spec, where="x")


def test_a_build_over_synthesized_domains_passes_revalidation(tmp_path):
    out = make_build(tmp_path / "b", {"name": "syn", "seed": 3, "records": 160, "shard_size": 80,
                                      "worlds": ["bank", {"synthesize": {"domains": 6, "seed": 2}}]})
    import polars as pl

    df = pl.read_parquet(out / "shards" / "*.parquet")
    assert set(df["domain"].unique()) >= set(domain_names(6, 2)[:4])
    assert revalidate(out).failed == 0
    report = revalidate(out, include_rejected=True)
    assert report.failed == 0 and report.checked > df.height


def test_coverage_in_the_manifest_card_and_report_counts_what_the_rows_call(tmp_path):
    import json

    import pyarrow.parquet as pq

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.inspect import write_report

    out = make_build(tmp_path / "c", {"name": "cov", "seed": 1, "records": 120, "shard_size": 60,
                                      "worlds": ["shop", {"synthesize": {"domains": 3, "seed": 4}}]})
    calls: dict[tuple[str, str], int] = {}
    for path in sorted((out / "shards").glob("*.parquet")):
        for row in pq.read_table(path, columns=["domain", "content"]).to_pylist():
            for event in row["content"]:
                if event["class_"] == "api_action":
                    key = (row["domain"], event["function"])
                    calls[key] = calls.get(key, 0) + 1
    c = json.loads((out / "manifest.json").read_text())["coverage"]
    offered = 13 + sum(len(d.tools) for d in synthesized_domains(3, 4))
    assert c["tools_offered"] == offered and c["domains_offered"] == 4
    assert c["tools_called"] == len(calls) and c["calls"] == sum(calls.values())
    assert c["tools_called"] + c["never_called_count"] == offered
    assert c["by_source"]["synthesized"]["domains"] == 3 and c["by_source"]["builtin"]["domains"] == 1
    for name, per in c["domains"].items():
        assert per["calls"] == sum(n for (d, _), n in calls.items() if d == name)
    card = (out / "README.md").read_text()
    assert "## Tool coverage" in card and f"{c['tools_called']} of {offered} tools called" in card
    html = write_report(out, tmp_path / "r.html").read_text()
    assert "Tool usage and coverage" in html and f"{c['tools_called']:,} of {offered:,} tools offered" in html


def test_distractors_are_near_misses_among_many_tools():
    from agentfab.generators.queries import offer_tools

    for spec in synthesize_domains(8, 6):
        domain = build(spec)
        for t in domain.tools:
            if t.name.startswith("find_"):
                entity, field = t.name[len("find_"):].split("_by_")
                twin = next(x.name for x in domain.tools if x.name.startswith("search_") and x.name.endswith(
                    f"_by_{field}") and t.spec.parameters["properties"][field]["x-entity"]
                    == x.spec.parameters["properties"][field].get("x-entity"))
                assert twin in offer_tools(domain, [t.name], 1, random.Random(0)), (t.name, twin)


def test_irrelevant_requests_come_from_a_sibling_domain_through_a_tool_this_domain_lacks():
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.stages import ShardWorld, _entity_types, foreign_tool
    from agentfab.flows.worlds import expand_worlds

    recipe = parse_recipe({"name": "r", "records": 1, "worlds": ["shop", {"synthesize": {"domains": 30, "seed": 2}}]})
    worlds = [ShardWorld(label, d, 1, recipe, 1) for label, d in expand_worlds(recipe.worlds, Path("."))]
    rng = random.Random(3)
    with_siblings = 0
    for here in worlds:
        has_sibling = any(_entity_types(w.domain) & _entity_types(here.domain) for w in worlds if w is not here)
        with_siblings += has_sibling
        for _ in range(10):
            w, tool = foreign_tool(here.domain, worlds, rng)
            assert w.domain.name != here.domain.name
            assert tool.name not in {t.name for t in here.domain.tools}  # never answerable here
            assert bool(_entity_types(w.domain) & _entity_types(here.domain)) == has_sibling
    assert with_siblings >= 6  # customers, departments, airports... recur across themes


def test_synthesized_preconditions_refuse_a_write_that_breaks_them():
    checked = 0
    for spec in synthesize_domains(60, 3):
        domain = build(spec)
        store = domain.seeded(2)
        pools = PoolCache(domain, store)
        for ename, entity in spec["entities"].items():
            for rule in entity.get("rules", []):
                if rule["when"] != "create" or "equals" not in rule:
                    continue
                target = entity["fields"][rule["ref"]]["ref"]
                table = spec["entities"][target].get("plural") or pluralize(snake_case(target))
                bad = [r for r in store.rows(table) if r[rule["field"]] != rule["equals"]]
                if not bad:
                    continue
                tool = domain.tool(f"create_{snake_case(ename)}")
                args = sample_arguments(tool, pools, random.Random(1))
                args[rule["ref"]] = bad[0]["id"]
                result = tool.invoke(store.fork(), args)
                assert is_error(result) and result["error"]["type"] == rule.get("error", "invalid_state"), result
                checked += 1
    assert checked >= 3

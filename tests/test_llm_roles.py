"""The tool simulator and domain proposals against the loopback server: answers validated against the tool's
`returns` schema (repaired or refused), memoized per call and state; proposed domains parsed by the declared-domain
schema and built into executable tools, never code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from agentfab.llm.cache import RequestCache
from agentfab.llm.client import RoleClient
from agentfab.llm.domains import DomainRejected, propose_domain
from agentfab.llm.loopback import Fault, LoopbackServer, ScriptedModel
from agentfab.llm.settings import RoleSettings
from agentfab.llm.simulator import ToolSimulator
from agentfab.schemas.tools import ToolSpec

WEATHER = ToolSpec(name="get_weather", description="Current weather of a city", domain="weather", source="json",
                   mutates=False,
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                   returns={"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
                            "required": ["city", "celsius"]})


@pytest.fixture
def server():
    with LoopbackServer(ScriptedModel()) as s:
        yield s


def client(server, role: str) -> RoleClient:
    return RoleClient(role, RoleSettings(base_url=server.base_url, model="m", max_repairs=2), RequestCache(None))


def run(coro_factory):
    async def go():
        return await coro_factory()
    return asyncio.run(go())


def test_a_simulated_result_matches_the_returns_schema_and_the_same_call_is_asked_once(server):
    async def go():
        sim = ToolSimulator(client(server, "simulator"))
        a = await sim.call(WEATHER, {"city": "Oslo"}, [])
        b = await sim.call(WEATHER, {"city": "Oslo"}, [])
        wrote = [{"tool": "set_sky", "arguments": {"city": "Oslo"}, "result": {"ok": True}}]
        c = await sim.call(WEATHER, {"city": "Oslo"}, wrote)  # another state is another call
        await sim.client.close()
        return a, b, c

    a, b, c = run(go)
    assert set(a) == {"city", "celsius"} and isinstance(a["celsius"], (int, float))
    assert a == b and len(server.log) == 2 and "RETURNS <<<" in server.log[0]["messages"][-1]["content"]
    assert '"writes": [{"arguments": {"city": "Oslo"}' in server.log[1]["messages"][-1]["content"]


def test_a_result_off_the_returns_schema_is_re_asked_then_refused_as_an_error_result(server):
    server.faults.extend([Fault("text", text='{"result": {"city": "Oslo"}}')] * 3)  # celsius missing, every time

    async def go():
        sim = ToolSimulator(client(server, "simulator"))
        try:
            return await sim.call(WEATHER, {"city": "Oslo"}), sim.refused
        finally:
            await sim.client.close()

    result, refused = run(go)
    assert refused == 1 and result["error"]["type"] == "simulator" and "celsius" in result["error"]["message"]
    assert len(server.log) == 3 and "returns schema" in server.log[-1]["messages"][-1]["content"]


def test_a_proposed_domain_is_declared_data_built_into_executable_tools(server):
    example = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "domains" / "clinic.yaml").read_text())

    async def go():
        c = client(server, "generator")
        try:
            return await propose_domain(c, "a clinic", example)
        finally:
            await c.close()

    spec, domain = run(go)
    assert spec["name"] == "clinic" and len(domain.tools) > 5
    store = domain.seeded(1)
    doctor = domain.tool("get_doctor").invoke(store, {"doctor_id": "DR-001"})  # it really executes on seeded state
    assert doctor["doctor_id"] == "DR-001" and doctor["specialty"]
    assert domain.tool("get_doctor").invoke(store, {"doctor_id": "DR-999"})["error"]["type"] == "not_found"


def test_a_proposed_domain_that_breaks_the_schema_is_repaired_or_refused_with_a_code(server):
    bad = '{"name": "x", "entities": {"Thing": {"fields": {"size": {"type": "colour"}}}}}'
    server.faults.extend([Fault("text", text=bad)] * 3)

    async def go():
        c = client(server, "generator")
        try:
            return await propose_domain(c, "things", {"name": "x"})
        finally:
            await c.close()

    with pytest.raises(DomainRejected) as err:
        run(go)
    assert err.value.code == "domain.invalid_spec" and err.value.attempts == 3
    assert "invalid" in server.log[-1]["messages"][-1]["content"]


def test_agentfab_domains_propose_writes_a_declared_domain_a_recipe_can_build(server, tmp_path: Path):
    from click.testing import CliRunner

    from agentfab.flows.cli import main
    from agentfab.worlds.registry import declared_domain

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "p", "records": 5, "worlds": ["bank"],
                                      "models": {"generator": {"base_url": server.base_url, "model": "m"}}}))
    out = tmp_path / "proposed.yaml"
    result = CliRunner().invoke(main, ["domains", "propose", str(recipe), "--theme", "a bakery", "--out", str(out)])
    assert result.exit_code == 0, result.output
    domain = declared_domain(str(out))
    assert len(domain.tools) > 3 and "executable tools" in result.output
    assert "a bakery" in server.log[0]["messages"][-1]["content"]
    no_model = tmp_path / "n.yaml"
    no_model.write_text(yaml.safe_dump({"name": "p", "records": 5, "worlds": ["bank"]}))
    result = CliRunner().invoke(main, ["domains", "propose", str(no_model), "--theme", "x", "--out", str(out)])
    assert result.exit_code == 2 and "models.generator is missing" in result.output

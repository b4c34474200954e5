"""prefect.yaml declares deployments that point at the scheduled-build flow and at recipes that exist."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.schedules import Cron

from agentfab.flows.recipe import load_recipe
from agentfab.flows.serve import DEPLOYMENT_FLOW, scheduled_build

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_runs_the_scheduled_build_of_an_existing_recipe_on_a_valid_cron():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert spec["deployments"] and scheduled_build.name == DEPLOYMENT_FLOW
    for deployment in spec["deployments"]:
        path, func = deployment["entrypoint"].split(":")
        assert (ROOT / path).is_file() and func == scheduled_build.fn.__name__
        load_recipe(ROOT / deployment["parameters"]["recipe"], {})
        assert set(deployment["parameters"]) <= {"recipe", "out", "workers"}
        for schedule in deployment["schedules"]:
            Cron(schedule["cron"], timezone=schedule["timezone"])

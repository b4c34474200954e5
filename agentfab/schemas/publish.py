"""Generate the JSON Schema files in `agentfab/schemas/json/` from the pydantic models.

Run `agentfab schema --write` after changing a model; `tests/test_schemas.py` fails while the files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from agentfab.schemas.rows import DatasetRow
from agentfab.schemas.tasks import Task
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import Trajectory

JSON_DIR = Path(__file__).parent / "json"
PUBLISHED: dict[str, type[BaseModel]] = {
    "tool_spec": ToolSpec,
    "task": Task,
    "trajectory": Trajectory,
    "dataset_row": DatasetRow,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    return {f"{name}.schema.json": render(model) for name, model in PUBLISHED.items()}


def write(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, text in rendered().items():
        path = directory / filename
        path.write_text(text)
        paths.append(path)
    return paths


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names of committed schema files that differ from what the models generate now."""
    return [
        name
        for name, text in rendered().items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]

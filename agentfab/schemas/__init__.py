"""Data contracts: pydantic models, the Arrow schema derived from them, and their published JSON Schemas."""

from agentfab.schemas.rows import ROW_ARROW_SCHEMA, DatasetRow
from agentfab.schemas.tasks import TASK_KINDS, Clarification, Fact, PlanStep, Task, UserTurn
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import ADP_SCHEMA_VERSION, Trajectory

__all__ = [
    "ADP_SCHEMA_VERSION",
    "Clarification",
    "DatasetRow",
    "Fact",
    "PlanStep",
    "ROW_ARROW_SCHEMA",
    "TASK_KINDS",
    "Task",
    "ToolSpec",
    "Trajectory",
    "UserTurn",
]

"""Hugging Face / TRL conversational format with tools (the `hf` format): `{"messages", "tools"}` per line.

Assistant calls are `{"id", "type": "function", "function": {"name", "arguments": <object>}}`: Transformers chat
templates want arguments as a dict, not OpenAI's JSON text. Tool messages carry both `name` and `tool_call_id`
(templates read one or the other) and string content. An assistant message that only calls tools has no `content`
key unless reasoning is kept, as in TRL's own examples.

Loading. Arguments differ in shape from tool to tool, and so do tool parameter schemas; Arrow structs cannot hold
that without merging every shape into one (null-filling keys a call never had). Each message and each tool is
therefore meant to be stored as one JSON value, `datasets.Json()` (datasets >= 4.7):

    load_dataset("json", data_files=path, features=hf_features())

gives back exactly what was written, arguments as dicts. Without `features`, datasets >= 4.7 infers `Json()` for
the mixed-shape fields it sees in the file's first 10 MB, which also works for files whose shapes all show up there.
Older versions of datasets cannot load this file faithfully.
"""

from __future__ import annotations

from typing import Any

from agentfab.formats.export.chat import chat_messages, openai_tools


def messages(row: dict[str, Any], *, reasoning: bool = True) -> list[dict[str, Any]]:
    return chat_messages(row, reasoning=reasoning, arguments_as_text=False, tool_names=True)


def export_row(row: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    return {"messages": messages(row, reasoning=reasoning), "tools": openai_tools(row)}


def json_features(*list_columns: str) -> Any:
    """`datasets.Features` holding each named column as a list of JSON values (needs datasets >= 4.7)."""
    import datasets

    if not hasattr(datasets, "Json"):
        raise RuntimeError(f"datasets {datasets.__version__} has no Json feature; install datasets>=4.7 to load this "
                           "export with its arguments as dicts")
    return datasets.Features({name: datasets.List(datasets.Json()) for name in list_columns})


def hf_features() -> Any:
    """The features to pass to `datasets.load_dataset("json", ...)` for an `hf` export."""
    return json_features("messages", "tools")

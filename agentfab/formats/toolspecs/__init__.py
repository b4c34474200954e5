"""Tool definitions nobody vetted -> `ToolSpec`: OpenAPI 3 (`openapi`), MCP `tools/list` results, JSON tool lists
and xLAM rows (`sources`), all read through the limits of `documents`."""

from agentfab.formats.toolspecs.documents import ToolImportError
from agentfab.formats.toolspecs.openapi import tools_from_openapi
from agentfab.formats.toolspecs.sources import tools_from_json, tools_from_mcp

__all__ = ["ToolImportError", "tools_from_json", "tools_from_mcp", "tools_from_openapi"]

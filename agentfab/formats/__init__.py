"""Data in and out of agentfab's row contract; each room needs only `agentfab.schemas`.

- `export/`: dataset rows -> trainer formats (openai, hf, sharegpt, hermes, dpo, adp), and choosing the rows.
- `imports/`: trainer-format files -> ADP events, tools and system prompt (`read_records`).
- `toolspecs/`: tool definitions from OpenAPI, MCP, JSON lists and xLAM rows -> `ToolSpec`, read with limits.
"""

"""The OpenAI-compatible client layer and the LLM roles (generator, agent, user, judge, tool simulator).

Depends only on `agentfab.schemas` (and `agentfab.worlds` for the tool simulator); `agentfab.flows` wires it into
the shard pipeline. Every request goes through `RoleClient`: concurrency and rate limits, retries, the disk cache
and usage accounting live there and nowhere else.
"""

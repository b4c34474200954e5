"""Travel: companies, travelers, airports, weather, flights and hotels, with seat and room availability."""

from agentfab.worlds.travel.tools import *  # noqa: F401,F403  (the module is the domain: see domain_from_module)
from agentfab.worlds.travel.tools import DESCRIPTION, ENTITIES, NAME, seed_state  # noqa: F401

"""Calendar: people, teams and meetings with real conflict checks, free-slot search and rescheduling."""

from agentfab.worlds.calendar.tools import *  # noqa: F401,F403  (the module is the domain: see domain_from_module)
from agentfab.worlds.calendar.tools import DESCRIPTION, ENTITIES, NAME, seed_state  # noqa: F401

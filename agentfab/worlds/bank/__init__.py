"""Bank: customers, accounts and transfers with real rules (limits, frozen accounts, insufficient funds)."""

from agentfab.worlds.bank.tools import *  # noqa: F401,F403  (the module is the domain: see domain_from_module)
from agentfab.worlds.bank.tools import DESCRIPTION, ENTITIES, NAME, seed_state  # noqa: F401

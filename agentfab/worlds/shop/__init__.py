"""Shop: customers, products and stock, orders with cancellations and refunds (delivered orders only)."""

from agentfab.worlds.shop.tools import *  # noqa: F401,F403  (the module is the domain: see domain_from_module)
from agentfab.worlds.shop.tools import DESCRIPTION, ENTITIES, NAME, seed_state  # noqa: F401

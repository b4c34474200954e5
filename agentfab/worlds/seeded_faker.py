"""Faker for seeding worlds, seeded, with its weighted draws made cheap and exactly the same.

Faker draws a weighted element (a first name, a last name, a city suffix: tables of hundreds to thousands of entries)
by copying the table's weights and summing them again on every draw, so `fake.name()` costs ~60 us; seeding the
world variants of one process makes tens of thousands of such draws. `seeded_faker` gives each provider of its own
Faker instance a `random_elements` that sums each table's weights once and then asks the same `Random.choices`
with those cumulative weights, which is the call Faker's own path ends in (`choices(weights=w)` sums `w` into the
cumulative weights and continues as `choices(cum_weights=...)`). The values, and the state of the Random after
them, are the ones Faker makes (tests/test_world_variants.py compares every allowed provider); every other draw
goes to Faker's own method. Nothing outside the returned instance is changed.

Making a Faker (26 providers added one by one) costs several milliseconds, a quarter of seeding a world variant, so
each thread keeps one and `seed_instance` re-seeds it: its Random is seeded afresh, the only state its draws read,
so the values are a fresh instance's. The instance is the caller's until its next `seeded_faker` call in the same
thread (every caller seeds one world, or fills one pool, and drops it).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from itertools import accumulate
from typing import Any

from faker import Faker

_SUMMED: dict[int, tuple[OrderedDict[Any, float], tuple[Any, ...], list[float]]] = {}
_THREAD = threading.local()


def seeded_faker(seed: int) -> Faker:
    """`Faker("en_US")` seeded with `seed` (`seed_instance`), whose weighted draws cost microseconds: this thread's
    one instance, re-seeded (see above)."""
    fake = getattr(_THREAD, "fake", None)
    if fake is None:
        fake = _THREAD.fake = Faker("en_US")
        for provider in fake.providers:
            _sum_weights_once(provider)
    fake.seed_instance(seed)
    fake.unique.clear()  # values `fake.unique` handed out before: a fresh instance has none (travel's company names)
    return fake


def plain_name(fake: Faker) -> str:
    """A person's name as people give it: not Faker's name(), which sometimes adds a title and a degree
    ("Dr. Theresa Scott MD")."""
    return f"{fake.first_name()} {last_name(fake)}"


def last_name(fake: Faker) -> str:
    """Faker's last name as it is spelled: "McDonald", "McIntyre", not Faker's "Mcdonald" (the same draw)."""
    return spelled(fake.last_name())


def spelled(name: str) -> str:
    """A name made of Faker's last names as people spell it: "McDaniel, Roberson and Johnson", "Ashley McPherson"."""
    name = _MC.sub(lambda m: "Mc" + m.group(1).upper(), name) if "Mc" in name else name
    return _O.sub(lambda m: "O'" + m.group(1).capitalize(), name) if "O" in name else name  # "O'Brien"


_MC = re.compile(r"\bMc([a-z])")
_O = re.compile(r"\bO(brien|connell|connor|donnell|neal|neill)\b")  # Faker's "Obrien", "Oconnor", "Oneill"


def _summed(table: OrderedDict[Any, float]) -> tuple[tuple[Any, ...], list[float]]:
    """Keys and cumulative weights of one of Faker's weighted tables: module constants, never changed (Faker keeps
    their keys on them, `_key_cache`, on the same assumption)."""
    found = _SUMMED.get(id(table))  # the entry keeps `table` alive, so its id is never another table's
    if found is None or found[0] is not table or len(found[1]) != len(table):
        found = _SUMMED[id(table)] = (table, tuple(table.keys()), list(accumulate(table.values())))
    return found[1], found[2]


def _sum_weights_once(provider: Any) -> None:
    faker_own = provider.random_elements
    generator = provider.generator

    def random_elements(elements: Any = ("a", "b", "c"), length: int | None = None, unique: bool = False,
                        use_weighting: bool | None = None) -> Any:
        weighted = provider.__use_weighting__ if use_weighting is None else use_weighting
        if unique or not weighted or not isinstance(elements, OrderedDict):
            return faker_own(elements, length, unique, use_weighting)
        rng = generator.random
        if length is None:
            length = rng.randint(1, len(elements))
        keys, cumulative = _summed(elements)
        return rng.choices(keys, cum_weights=cumulative, k=length)

    provider.random_elements = random_elements

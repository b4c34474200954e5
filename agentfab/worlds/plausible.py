"""Values that read like the real thing, for seeding worlds: real city names, book-like titles, tail numbers.

Faker's `city()` invents places ("Rodriguezside") and `catch_phrase()` makes slogans ("3rd generation open
system"); a model trained on those learns the artefact. Draws take the caller's seeded `random.Random`.
"""

from __future__ import annotations

import random

from agentfab.schemas.wording import plural

US_CITIES = (
    "Austin", "Boston", "Chicago", "Denver", "Portland", "Seattle", "Atlanta", "Phoenix", "Miami", "Dallas",
    "Houston", "Nashville", "Detroit", "Baltimore", "Minneapolis", "Pittsburgh", "Cleveland", "Sacramento",
    "San Diego", "Salt Lake City", "Kansas City", "Milwaukee", "Raleigh", "Tampa", "Orlando", "Albuquerque",
    "Tucson", "Omaha", "Richmond", "Buffalo", "Louisville", "Memphis", "Charlotte", "Columbus", "Indianapolis",
    "Madison", "Boise", "Spokane", "Savannah", "Anchorage",
)

_TITLE_NOUNS = (
    "River", "Garden", "Harbor", "Lighthouse", "Orchard", "Winter", "Summer", "Mountain", "Island", "Forest",
    "Bridge", "Station", "Library", "Kitchen", "Letters", "Voyage", "Salt", "Silence", "Stars", "Tides",
    "Clockmaker", "Cartographer", "Daughter", "Stranger", "Orchestra", "Map", "Road", "House", "Valley", "Fire",
)
_TITLE_ADJECTIVES = (
    "Silent", "Hidden", "Last", "Golden", "Quiet", "Distant", "Broken", "Secret", "Northern", "Lost",
    "Long", "Bright", "Wild", "Paper", "Glass", "Iron", "Small", "Red", "Blue", "Endless",
)
_TITLE_SUBJECTS = (
    "Salt", "Bread", "Rivers", "Mapmaking", "the Moon", "Bees", "Cities", "Trains", "Tea", "Glaciers",
    "Memory", "Coffee", "the Ocean", "Clocks", "Paper", "Birds", "Bridges", "Maps", "Spices", "Gardens",
)


def city(rng: random.Random) -> str:
    return US_CITIES[rng.randrange(len(US_CITIES))]


def book_title(rng: random.Random) -> str:
    """A title in one of the shapes real catalogues are full of."""
    shape = rng.randrange(5)
    adj = _TITLE_ADJECTIVES[rng.randrange(len(_TITLE_ADJECTIVES))]
    noun = _TITLE_NOUNS[rng.randrange(len(_TITLE_NOUNS))]
    other = _TITLE_NOUNS[rng.randrange(len(_TITLE_NOUNS))]
    if shape == 0:
        return f"The {adj} {noun}"
    if shape == 1:
        return f"The {noun} and the {other}" if other != noun else f"The {noun}"
    if shape == 2:
        return f"A History of {_TITLE_SUBJECTS[rng.randrange(len(_TITLE_SUBJECTS))]}"
    if shape == 3:
        return f"{adj} {plural(noun)}"  # "Secret Libraries", never "Secret Librarys"
    return f"The {noun} of {_TITLE_SUBJECTS[rng.randrange(len(_TITLE_SUBJECTS))]}"


_TAIL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # a US registration never uses I or O (read as 1 and 0)


def tail_number(rng: random.Random) -> str:
    """A US aircraft registration, "N" and up to five characters: "N4521K", "N733AB", "N90211" (Faker's
    `license_plate` gave a jet the tail number "257 1676")."""
    digits = str(rng.randint(1, 9)) + "".join(str(rng.randrange(10)) for _ in range(rng.randint(1, 3)))
    letters = "".join(_TAIL_LETTERS[rng.randrange(len(_TAIL_LETTERS))] for _ in range(rng.randint(0, 2)))
    return f"N{digits}{letters}"

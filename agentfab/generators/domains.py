"""Domain synthesis: new declared domains from agentfab's own vocabulary of entity archetypes, offline and seeded.

The vocabulary (`vocab/themes_*.yaml`, package data written for agentfab) holds coherent themes: a clinic has
doctors, patients, appointments and prescriptions; a carrier has warehouses, orders and shipments. A synthesized
domain takes one theme and varies it: which entities (always closed under their references), which optional
fields, how many choices, which aggregates, row counts and key formats. Its name is the theme's, or the theme with
a qualifier once every theme is used (`clinic`, then `clinic_north`).

What comes out is the plain declared-domain mapping (the YAML form of `agentfab.worlds.declared`), so it passes
the same validation and becomes executable tools with seeded state like any hand-written declaration.

Determinism: domain `i` depends only on (seed, i) and the vocabulary, through `random.Random` seeded with a
string (hashed with SHA-512, the same on every machine); `synthesize_domains(50, s)` is the first 50 of
`synthesize_domains(200, s)`.
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from agentfab.schemas.yaml_input import load_yaml
from agentfab.worlds.declared_spec import pluralize, snake_case

VOCAB_DIR = Path(__file__).parent / "vocab"
MAX_DOMAINS = 5_000
MAX_ROWS = 60
QUALIFIERS = ("north", "south", "east", "west", "central", "metro", "coastal", "valley", "harbor", "summit",
              "pacific", "atlantic", "alpine", "prairie", "lakeside", "uptown", "riverside", "highland")
RESERVED = frozenset({"bank", "shop", "travel", "calendar", "library"})  # the built-in worlds' names
_FIELD_EXTRAS = ("keep",)  # vocabulary-only keys, not part of the declared form


class SynthesisError(ValueError):
    """A synthesis request that cannot be met; the message names the setting."""


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, dict[str, Any]]:
    """Every theme of the vocabulary files, by name (file order is irrelevant: themes are sorted)."""
    themes: dict[str, dict[str, Any]] = {}
    for path in sorted(VOCAB_DIR.glob("themes_*.yaml")):
        for name, theme in (load_yaml(path.read_text(encoding="utf-8"), path.name) or {}).items():
            if name in themes or name in RESERVED:
                raise SynthesisError(f"{path.name}: theme {name!r} is defined twice or shadows a built-in world")
            themes[name] = theme
    return dict(sorted(themes.items()))


def domain_names(n: int, seed: int) -> list[str]:
    """The names the first `n` synthesized domains of `seed` get: every theme once, then with qualifiers."""
    themes = list(vocabulary())
    random.Random(f"agentfab-synthesis:{seed}:order").shuffle(themes)
    names = []
    for i in range(n):
        theme, lap = themes[i % len(themes)], i // len(themes)
        if lap == 0:
            names.append(theme)
        elif lap <= len(QUALIFIERS):
            names.append(f"{theme}_{QUALIFIERS[lap - 1]}")
        else:
            names.append(f"{theme}_{lap + 1}")
    return names


def synthesize_domains(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` declared-domain mappings, the same for the same (n, seed) on every machine."""
    if not 1 <= n <= MAX_DOMAINS:
        raise SynthesisError(f"domains: must be 1..{MAX_DOMAINS}, got {n}")
    vocab = vocabulary()
    return [synthesize_domain(name, vocab[_theme_of(name, vocab)], random.Random(f"agentfab-synthesis:{seed}:{i}"))
            for i, name in enumerate(domain_names(n, seed))]


def _theme_of(name: str, vocab: dict[str, Any]) -> str:
    while name not in vocab:
        name = name.rsplit("_", 1)[0]
    return name


def synthesize_domain(name: str, theme: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One variant of a theme as a declared-domain mapping."""
    entities: dict[str, dict[str, Any]] = theme["entities"]
    chosen = _choose_entities(entities, rng)
    out: dict[str, Any] = {}
    for ename in entities:  # vocabulary order: referenced entities come first, which reads well
        if ename in chosen:
            out[ename] = _entity(entities[ename], chosen, rng)
    for ename in out:
        rules = [r for r in entities[ename].get("rules", []) if _rule_fits(r, ename, out) and rng.random() < 0.8]
        if rules:
            out[ename]["rules"] = rules
    words = [_plural_words(ename, entities[ename]) for ename in out]
    listing = ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]
    return {"name": name, "description": f"{theme['about']}: {listing}.", "entities": out}


def _rule_fits(rule: dict[str, Any], ename: str, entities: dict[str, dict[str, Any]]) -> bool:
    """A vocabulary precondition survives when the fields it reads were kept (and its value is still a choice)."""
    own = entities[ename]["fields"]
    if "ref" in rule:
        if rule["ref"] not in own:
            return False
        subject = entities[own[rule["ref"]]["ref"]]["fields"]
    else:
        subject = own
    f = subject.get(rule["field"])
    if f is None or ("covers" in rule and rule["covers"] not in own):
        return False
    return "equals" not in rule or not f.get("choices") or rule["equals"] in f["choices"]


def _choose_entities(entities: dict[str, dict[str, Any]], rng: random.Random) -> set[str]:
    names = list(entities)
    k = rng.randint(min(3, len(names)), len(names))
    chosen = set(rng.sample(names, k))
    grew = True
    while grew:  # close under the references a kept field makes
        grew = False
        for ename in list(chosen):
            for f in entities[ename]["fields"].values():
                if f.get("keep") and "ref" in f and f["ref"] not in chosen:
                    chosen.add(f["ref"])
                    grew = True
    return chosen


def _entity(spec: dict[str, Any], chosen: set[str], rng: random.Random) -> dict[str, Any]:
    low, high = spec["count"]
    high = min(high, MAX_ROWS)  # a list, count or aggregate scans its table: keep worlds as small as the built-ins
    count = rng.randint(min(low, high // 2), high)
    width = len(str(count)) + rng.choice((1, 2))
    fields: dict[str, Any] = {}
    for fname, f in spec["fields"].items():
        if "ref" in f and f["ref"] not in chosen:
            continue
        if not f.get("keep") and rng.random() < 0.3:
            continue
        fields[fname] = _field(f, rng)
    for f in fields.values():  # a range per choice follows the choices kept, or goes with its field
        if "by" in f:
            choices = fields.get(f["by"], {}).get("choices")
            if choices:
                f["ranges"] = {c: r for c, r in f["ranges"].items() if c in choices}
            else:
                del f["by"], f["ranges"]
    out: dict[str, Any] = {"id_format": f"{spec['id']}-{{n:0{width}d}}", "count": count}
    if "plural" in spec:
        out["plural"] = spec["plural"]
    out["description"] = spec["about"]
    out["fields"] = fields
    return out


def _field(f: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = {k: v for k, v in f.items() if k not in _FIELD_EXTRAS}
    choices = out.get("choices")
    if choices and len(choices) > 4:
        size = rng.randint(4, len(choices))
        picked = set(rng.sample(range(len(choices)), size))
        out["choices"] = [c for i, c in enumerate(choices) if i in picked]
    if out.get("type") in ("integer", "number"):
        options = list(f.get("aggregate", []))
        out["aggregate"] = rng.sample(options, rng.randint(0, min(2, len(options)))) if options else []
    return out


def _plural_words(ename: str, spec: dict[str, Any]) -> str:
    return (spec.get("plural") or pluralize(snake_case(ename))).replace("_", " ")


def domain_yaml(domain: dict[str, Any], *, seed: int) -> str:
    """A synthesized domain as a readable YAML file (one line per field, as in data/domains/clinic.yaml)."""
    def flow(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True)
        return text.removesuffix("\n").removesuffix("\n...")

    lines = [f"# Synthesized by `agentfab domains synthesize` (seed {seed}) from agentfab's own vocabulary.",
             "# A declared domain: edit it freely and use it with `worlds: [{declared: THIS_FILE}]`.",
             "# The format is documented at the top of agentfab/worlds/declared.py.",
             f"name: {flow(domain['name'])}", f"description: {flow(domain['description'])}", "entities:"]
    for ename, entity in domain["entities"].items():
        lines.append(f"  {ename}:")
        lines += [f"    {key}: {flow(value)}" for key, value in entity.items() if key != "fields"]
        lines.append("    fields:")
        lines += [f"      {fname}: {flow(field)}" for fname, field in entity["fields"].items()]
    return "\n".join(lines) + "\n"

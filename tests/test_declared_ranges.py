"""Values that go together: a number field drawn `by` a choices field (a pet's weight in the range of its species, a
plane's seats in the range of its model) in seeded worlds, in the values create and update requests give, and in
synthesized domains; a person's email made from the name a create request gives."""

from __future__ import annotations

import copy
import random

import pytest

from agentfab.generators import domains
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.worlds.declared import DeclaredDomainError, declared_domain_from_dict

RANGES = {"cat": [2.5, 7], "dog": [3, 45], "horse": [350, 800]}
PETS = {
    "name": "vet",
    "entities": {
        "Pet": {"count": 60, "fields": {
            "species": {"type": "string", "choices": ["cat", "dog", "horse"], "searchable": True},
            "weight_kg": {"type": "number", "min": 0.5, "max": 800, "decimals": 1, "by": "species",
                          "ranges": RANGES},
            "age": {"type": "integer", "min": 0, "max": 30}}},
    },
}


def in_range(pet: dict) -> bool:
    low, high = RANGES[pet["species"]]
    return low <= pet["weight_kg"] <= high


def test_every_seeded_record_has_a_value_in_the_range_of_its_choice():
    domain = declared_domain_from_dict(PETS)
    for seed in range(5):
        pets = list(domain.seeded(seed).rows("pets"))
        assert pets and all(in_range(p) for p in pets), [p for p in pets if not in_range(p)]
        assert {p["species"] for p in pets} == set(RANGES)  # every choice is met, each in its own range


def test_a_create_request_draws_the_value_in_the_range_of_the_choice_it_drew():
    domain = declared_domain_from_dict(PETS)
    store = domain.seeded(1)
    tool = domain.tool("create_pet")
    assert tool.spec.parameters["properties"]["weight_kg"]["x-range-by"] == {"field": "species", "of": "pet_id",
                                                                          "ranges": RANGES}
    pools, rng = PoolCache(domain, store), random.Random(3)
    drawn = [sample_arguments(tool, pools, rng) for _ in range(200)]
    assert all(in_range(args) for args in drawn)
    assert {args["species"] for args in drawn} == set(RANGES)
    out = tool.invoke(store.fork(), drawn[0])  # and the world takes it
    assert out["weight_kg"] == drawn[0]["weight_kg"]


def test_without_by_the_whole_range_is_drawn_as_before():
    spec = copy.deepcopy(PETS)
    del spec["entities"]["Pet"]["fields"]["weight_kg"]["by"], spec["entities"]["Pet"]["fields"]["weight_kg"]["ranges"]
    pets = list(declared_domain_from_dict(spec).seeded(0).rows("pets"))
    assert not all(in_range(p) for p in pets)  # the control: a 300 kg cat is drawn when nothing narrows it
    weight = declared_domain_from_dict(spec).tool("create_pet").spec.parameters["properties"]["weight_kg"]
    assert "x-range-by" not in weight


def bad(change) -> str:
    spec = copy.deepcopy(PETS)
    change(spec["entities"]["Pet"]["fields"])
    with pytest.raises(DeclaredDomainError) as info:
        declared_domain_from_dict(spec, where="vet.yaml")
    return str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda f: f["weight_kg"].pop("ranges"), "entities.Pet.fields.weight_kg: `by` and `ranges` go together"),
    (lambda f: f["weight_kg"].update(by="age"),
     "weight_kg.by: 'age' is not a choices field declared before weight_kg (choices fields before it: species)"),
    (lambda f: f.update(weight_kg=f.pop("weight_kg")) or f.update(species=f.pop("species")),  # declared after
     "weight_kg.by: 'species' is not a choices field declared before weight_kg (choices fields before it: none)"),
    (lambda f: f["weight_kg"]["ranges"].pop("horse"), "weight_kg.ranges: give one range per choice of species; "
     "missing: horse"),
    (lambda f: f["weight_kg"]["ranges"].update(cow=[400, 700]), "not a choice of species: cow"),
    (lambda f: f["weight_kg"]["ranges"].update(cat=[7, 2.5]), "weight_kg.ranges.cat: give [low, high] with "
     "0.5 <= low <= high <= 800, got [7, 2.5]"),
    (lambda f: f["weight_kg"]["ranges"].update(horse=[350, 900]), "weight_kg.ranges.horse: give [low, high]"),
    (lambda f: f["species"].update(by="age"), "entities.Pet.fields.species.by: does not apply to a string field"),
])
def test_a_bad_range_per_choice_is_one_line_naming_the_key_and_the_fix(change, message):
    msg = bad(change)
    assert msg.startswith("vet.yaml: entities.Pet.fields.") and message in msg, msg


def test_a_synthesized_domain_keeps_the_ranges_of_the_choices_it_kept_or_drops_by_with_its_field():
    spec = {"id": "PET", "count": [10, 20], "about": "A pet.", "fields": {
        "species": {"type": "string", "choices": ["cat", "dog", "horse", "rabbit", "parrot", "hamster"]},
        "weight_kg": {"type": "number", "min": 0.1, "max": 800, "by": "species", "keep": True,
                      "ranges": {**RANGES, "rabbit": [1, 5], "parrot": [0.1, 1.2], "hamster": [0.1, 0.2]}}}}
    seen = set()
    for seed in range(40):
        fields = domains._entity(spec, set(), random.Random(seed))["fields"]
        weight = fields["weight_kg"]
        if "species" in fields:
            assert weight["by"] == "species" and list(weight["ranges"]) == fields["species"]["choices"]
            seen.add("kept" if len(fields["species"]["choices"]) == 6 else "subset")
        else:
            assert "by" not in weight and "ranges" not in weight
            seen.add("dropped")
        declared_domain_from_dict({"name": "vet", "entities": {"Pet": {"fields": fields}}})  # each one loads
    assert seen == {"kept", "subset", "dropped"}
    assert spec["fields"]["weight_kg"]["ranges"]["hamster"] == [0.1, 0.2]  # the vocabulary itself is untouched


def test_the_vocabulary_pairs_species_with_weight_and_model_with_seats():
    vocab = domains.vocabulary()
    assert vocab["veterinary"]["entities"]["Pet"]["fields"]["weight_kg"]["by"] == "species"
    assert vocab["airline_ops"]["entities"]["Aircraft"]["fields"]["seats"]["ranges"]["ATR 72"] == [68, 78]


def test_an_update_draws_the_value_in_the_range_of_the_stored_record_and_says_its_unit():
    """An update of a pet's weight alone takes the range of the pet's stored species (a reader would see a 33 kg
    cat in the record the update returns), and says the weight with its unit."""
    from agentfab.generators.language import action_text

    domain = declared_domain_from_dict(PETS)
    store = domain.seeded(2)
    tool = domain.tool("update_pet")
    assert tool.spec.parameters["properties"]["weight_kg"]["x-range-by"]["of"] == "pet_id"
    pools, rng = PoolCache(domain, store), random.Random(5)
    weights = 0
    for _ in range(300):
        args = sample_arguments(tool, pools, rng)
        if "weight_kg" in args:
            weights += 1
            species = args.get("species") or store.get("pets", args["pet_id"])["species"]
            assert in_range({"species": species, "weight_kg": args["weight_kg"]}), (args, species)
    assert weights > 30
    assert action_text(tool, {"pet_id": "PET-0001", "weight_kg": 4.4}) == (
        "update the pet record for PET-0001, setting the weight to 4.40 kg")


def test_a_create_request_makes_the_email_from_the_name_it_gives():
    """'add a tenant: name Brittany Lopez, email address denise13@...' (17 of 17 such quickstart requests)."""
    from agentfab.flows.worlds import synthesized_domains

    domain = next(d for d in synthesized_domains(30, 7) if d.name == "property_management")
    tool = domain.tool("create_tenant")
    assert tool.spec.parameters["properties"]["email"]["x-made-from"] == {"field": "name", "as": "email"}
    pools, rng = PoolCache(domain, domain.seeded(1)), random.Random(4)
    for _ in range(40):
        args = sample_arguments(tool, pools, rng)
        first, *_, last = args["name"].lower().split()
        handle, _, host = args["email"].partition("@")
        assert handle in (first[0] + last, f"{first}.{last}", last + first[0]) and host.startswith("example."), args

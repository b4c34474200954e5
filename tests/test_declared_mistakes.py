"""A declared domain with a mistake is refused with one line naming the file, the key and the fix."""

from __future__ import annotations

import copy

import pytest
from test_declared_domains import SMALL

from agentfab.worlds.declared import DeclaredDomainError, declared_domain_from_dict, load_declared_domain


# -- mistakes ----------------------------------------------------------------------------------------------------


def bad(change) -> str:
    spec = copy.deepcopy(SMALL)
    change(spec)
    with pytest.raises(DeclaredDomainError) as info:
        declared_domain_from_dict(spec, where="garage.yaml")
    return str(info.value)


def test_an_unknown_ref_names_the_field_the_value_and_the_known_entities():
    msg = bad(lambda s: s["entities"]["Car"]["fields"]["owner_id"].update(ref="Driver"))
    assert msg == "garage.yaml: entities.Car.fields.owner_id.ref: unknown entity 'Driver' (known: Car, Owner)"


def test_an_unknown_key_is_refused_with_the_allowed_keys():
    msg = bad(lambda s: s["entities"]["Car"]["fields"]["km"].update(minimum=3))
    assert msg.startswith("garage.yaml: entities.Car.fields.km: unknown key 'minimum' (allowed: aggregate, by, choices,")
    assert "garage.yaml: top level: unknown key 'entites'" in bad(lambda s: s.update(entites={}))


def test_a_bad_type_names_the_allowed_types():
    msg = bad(lambda s: s["entities"]["Car"]["fields"]["km"].update(type="int"))
    assert msg == ("garage.yaml: entities.Car.fields.km.type: should be 'string', 'integer', 'number', 'boolean' "
                   "or 'date', got 'int'")


def test_an_unknown_faker_provider_is_refused_so_no_arbitrary_attribute_is_called():
    msg = bad(lambda s: s["entities"]["Owner"]["fields"]["name"].update(faker="__class__"))
    assert msg.startswith("garage.yaml: entities.Owner.fields.name.faker: unknown faker provider '__class__' (allowed:")
    assert "catch_phrase" in msg


def test_keys_that_do_not_apply_to_a_type_and_missing_bounds_are_refused():
    msg = bad(lambda s: s["entities"]["Car"]["fields"]["km"].update(faker="name"))
    assert msg == ("garage.yaml: entities.Car.fields.km.faker: does not apply to an integer field (it takes: "
                   "aggregate, by, description, max, min, ranges, type); remove it")
    msg = bad(lambda s: s["entities"]["Car"]["fields"]["km"].pop("max"))
    assert msg == ("garage.yaml: entities.Car.fields.km: an integer field needs both `min` and `max`, "
                   "e.g. {min: 0, max: 100}")


def test_reference_cycles_and_bad_id_formats_are_refused():
    def cycle(s):
        s["entities"]["Owner"]["fields"]["car_id"] = {"ref": "Car"}

    assert bad(cycle) == ("garage.yaml: entities: references form a cycle (Owner -> Car -> Owner); "
                          "break it, e.g. by dropping one ref")
    msg = bad(lambda s: s["entities"]["Car"].update(id_format="CAR-{m}"))
    assert msg == ("garage.yaml: entities.Car.id_format: must contain {n} exactly once (optionally {n:04d}), "
                   "got 'CAR-{m}'")


def test_running_out_of_unique_values_is_reported_when_the_domain_loads():
    def crowd(s):
        s["entities"]["Owner"]["count"] = 5000
        s["entities"]["Owner"]["fields"]["name"].update(faker="color_name")

    msg = bad(crowd)
    assert msg.startswith("garage.yaml: entities.Owner.fields.name: faker 'color_name' ran out of unique values")


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nentities: {Thing: {fields: {on: {type: boolean}}}}\n")
    with pytest.raises(DeclaredDomainError, match=r"broken\.yaml: entities\.Thing\.fields: names must be strings"):
        load_declared_domain(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(DeclaredDomainError, match=r"broken\.yaml: not valid YAML at line"):
        load_declared_domain(path)
    with pytest.raises(DeclaredDomainError, match=r"missing\.yaml: cannot read the domain file"):
        load_declared_domain(tmp_path / "missing.yaml")


@pytest.mark.parametrize("rule, message", [
    ({"when": "create", "ref": "author", "field": "x", "equals": True}, "rules[0].ref: 'author' is not a ref field"),
    ({"when": "create", "ref": "author_id", "field": "age", "equals": 3}, "rules[0].field: Author has no field 'age'"),
    ({"when": "create", "field": "genre", "equals": "opera"}, "rules[0].equals: 'opera' is not a possible string"),
    ({"when": "create", "field": "genre", "equals": "novel", "covers": "year"}, "give exactly one of `equals`"),
    ({"when": "delete", "field": "year", "covers": "year"}, "rules[0].covers: only a create gives the amount"),
    ({"when": "create", "field": "genre", "equals": "novel", "error": "boom"}, "rules[0].error: unknown error type"),
    ({"when": "sometimes", "field": "genre", "equals": "novel"}, "entities.Book.rules[0].when"),
])
def test_a_bad_declared_precondition_is_one_line_naming_the_key(rule, message):
    spec = {"name": "shelf", "entities": {
        "Author": {"fields": {"name": {"type": "string", "faker": "name"}}},
        "Book": {"fields": {"author_id": {"ref": "Author"}, "year": {"type": "integer", "min": 1, "max": 9},
                            "genre": {"type": "string", "choices": ["novel", "poetry"]}}, "rules": [rule]}}}
    with pytest.raises(DeclaredDomainError) as err:
        declared_domain_from_dict(spec, where="shelf.yaml")
    assert message in str(err.value) and str(err.value).startswith("shelf.yaml: entities.Book.rules[0]")

"""Declared domains: tools generated from a data description execute for real against seeded state."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import jsonschema
import pytest

from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.worlds.core import Domain, Store, is_error
from agentfab.worlds.declared import declared_domain_from_dict, load_declared_domain
from agentfab.worlds.registry import BUILTIN_DECLARED, builtin_domain

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = BUILTIN_DECLARED["library"]
CLINIC = ROOT / "data" / "domains" / "clinic.yaml"
SEED = 13

SMALL = {
    "name": "garage",
    "description": "A tiny garage.",
    "entities": {
        "Owner": {"id_format": "OW-{n:02d}", "count": 4,
                  "fields": {"name": {"type": "string", "faker": "name", "searchable": True, "unique": True}}},
        "Car": {"id_format": "CAR-{n:02d}", "count": 9,
                "fields": {"owner_id": {"ref": "Owner"},
                           "color": {"type": "string", "choices": ["red", "blue"], "searchable": True},
                           "km": {"type": "integer", "min": 0, "max": 200000, "aggregate": ["max", "sum"]}}},
    },
}


@pytest.fixture(scope="module")
def library() -> Domain:
    return load_declared_domain(LIBRARY)


@pytest.fixture(scope="module")
def seeded(library: Domain) -> Store:
    return library.seeded(SEED)


def call(domain: Domain, store: Store, tool: str, **kwargs):
    return domain.tool(tool).invoke(store, kwargs)


def book_out(rec: dict) -> dict:
    return {"book_id": rec["id"], **{k: v for k, v in rec.items() if k != "id"}}


def rows(store: Store, table: str) -> list[dict]:
    return list(store.rows(table))


# -- the generated surface ---------------------------------------------------------------------------------------


def test_the_library_domain_generates_at_least_15_tools_with_valid_json_schemas(library):
    assert library.name == "library" and len(library.tools) >= 15
    assert len({t.name for t in library.tools}) == len(library.tools)
    for t in library.tools:
        jsonschema.Draft202012Validator.check_schema(t.spec.parameters)
        jsonschema.Draft202012Validator.check_schema(t.spec.returns)
        assert t.spec.parameters["type"] == "object" and t.spec.parameters["additionalProperties"] is False
        assert set(t.spec.parameters["required"]) <= set(t.spec.parameters["properties"])
        assert t.spec.domain == "library" and t.spec.source == "declared"
        assert t.spec.description.strip()


def test_every_family_is_generated_for_the_library(library):
    names = {t.name for t in library.tools}
    for expected in ("get_book", "search_books_by_title", "find_book_by_title", "search_books_by_genre",
                     "list_books_of_author", "count_books_of_author", "max_book_price_usd", "max_book_price_usd_of_author",
                     "average_book_price_usd", "total_loan_late_fee_usd_of_member", "create_book", "update_book",
                     "delete_book", "list_loans_of_member", "list_loans_of_book", "create_loan", "find_author_by_name"):
        assert expected in names, expected
    mutating = {t.name for t in library.tools if t.spec.mutates}
    entities = ("author", "book", "member", "loan")
    assert mutating == {f"{op}_{e}" for op in ("create", "update", "delete") for e in entities}


def test_key_and_ref_parameters_and_results_carry_x_entity(library):
    get_book = library.tool("get_book").spec
    assert get_book.parameters["properties"]["book_id"]["x-entity"] == "book_id"
    assert get_book.returns["properties"]["book_id"]["x-entity"] == "book_id"
    assert get_book.returns["properties"]["author_id"]["x-entity"] == "author_id"
    create_loan = library.tool("create_loan").spec.parameters["properties"]
    assert create_loan["book_id"]["x-entity"] == "book_id" and create_loan["member_id"]["x-entity"] == "member_id"
    assert library.tool("max_book_price_usd_of_author").spec.returns["properties"]["book_id"]["x-entity"] == "book_id"
    assert library.tool("find_book_by_title").spec.parameters["properties"]["title"]["x-entity"] == "book_title"


def test_parameters_carry_enums_bounds_and_five_examples_for_free_text(library):
    props = library.tool("create_book").spec.parameters["properties"]
    assert props["genre"]["enum"] == ["novel", "poetry", "history", "science", "children", "mystery"]
    assert (props["price_usd"]["minimum"], props["price_usd"]["maximum"]) == (5, 80)
    assert len(props["title"]["examples"]) == 5
    assert len(library.tool("create_member").spec.parameters["properties"]["joined_on"]["examples"]) == 5
    assert props["available"]["default"] is True
    assert "available" not in library.tool("create_book").spec.parameters["required"]


def test_phrases_are_lower_case_and_mention_every_required_parameter(library):
    for t in library.tools:
        assert len(t.phrases) >= 2, t.name
        for phrase in (p.text for p in t.phrases):
            words = phrase.replace(" USD", "")  # a unit keeps its case: "price {price_usd} USD"
            assert words == words.lower(), phrase
            for p in t.spec.parameters["required"]:
                assert "{" + p + "}" in phrase, (t.name, phrase)


def test_entity_pools_cover_keys_searchable_and_choice_fields(library, seeded):
    pools = PoolCache(library, seeded)
    assert pools.pool("book_id") == sorted(seeded.keys("books"))
    assert set(pools.pool("book_title")) == {r["title"] for r in rows(seeded, "books")}
    assert set(pools.pool("author_country")) <= {"France", "Japan", "Brazil", "Kenya", "Canada", "India"}
    for t in library.tools:
        for name, schema in t.spec.parameters["properties"].items():
            if "x-entity" in schema:
                assert pools.pool(schema["x-entity"]), (t.name, name)


def test_every_successful_result_matches_the_tools_returns_schema(library, seeded):
    pools, rng = PoolCache(library, seeded), random.Random(0)
    for t in library.tools:
        successes = 0
        for _ in range(20):
            result = t.invoke(seeded.fork(), sample_arguments(t, pools, rng))
            if not is_error(result):
                jsonschema.validate(result, t.spec.returns)
                successes += 1
        assert successes or t.name.startswith(("update_", "delete_")), t.name


# -- reads -------------------------------------------------------------------------------------------------------


def test_get_returns_the_seeded_record_with_its_key_named_after_the_entity(library, seeded):
    rec = seeded.get("books", "BK-0007")
    assert call(library, seeded, "get_book", book_id="BK-0007") == book_out(rec)


def test_get_of_a_missing_key_is_not_found(library, seeded):
    result = call(library, seeded, "get_book", book_id="BK-9999")
    assert result["error"]["type"] == "not_found" and "BK-9999" in result["error"]["message"]


def test_search_by_text_matches_substrings_case_insensitively_and_counts_all_matches(library, seeded):
    word = rows(seeded, "books")[0]["title"].split()[-1].upper()
    expected = sorted(r["id"] for r in rows(seeded, "books") if word.lower() in r["title"].lower())
    result = call(library, seeded, "search_books_by_title", title=word)
    assert result["count"] == len(expected)
    assert [r["book_id"] for r in result["results"]] == expected[:10]


def test_search_by_choice_lists_up_to_ten_records_sorted_by_key(library, seeded):
    expected = sorted(r["id"] for r in rows(seeded, "books") if r["genre"] == "novel")
    result = call(library, seeded, "search_books_by_genre", genre="novel")
    assert result["count"] == len(expected) > 10
    assert [r["book_id"] for r in result["results"]] == expected[:10]


def test_find_by_a_unique_field_returns_one_record_or_not_found(library, seeded):
    rec = seeded.get("authors", "AUT-005")
    assert call(library, seeded, "find_author_by_name", name=rec["name"].lower())["author_id"] == "AUT-005"
    assert call(library, seeded, "find_author_by_name", name="Nobody Atall")["error"]["type"] == "not_found"


def test_list_and_count_related_records(library, seeded):
    expected = sorted(r["id"] for r in rows(seeded, "loans") if r["member_id"] == "MEM-010")
    listed = call(library, seeded, "list_loans_of_member", member_id="MEM-010")
    assert [r["loan_id"] for r in listed["results"]] == expected[:10] and listed["count"] == len(expected)
    assert call(library, seeded, "count_loans_of_member", member_id="MEM-010") == {"count": len(expected)}
    assert call(library, seeded, "count_books_of_author", author_id="AUT-999")["error"]["type"] == "not_found"


def test_aggregates_equal_values_computed_from_the_seeded_tables(library, seeded):
    books = rows(seeded, "books")
    top = max(r["price_usd"] for r in books)
    assert call(library, seeded, "max_book_price_usd") == {
        "value": top, "book_id": min(r["id"] for r in books if r["price_usd"] == top)}
    assert call(library, seeded, "min_book_price_usd")["value"] == min(r["price_usd"] for r in books)
    assert call(library, seeded, "average_book_price_usd") == {
        "value": round(sum(r["price_usd"] for r in books) / len(books), 2), "count": len(books)}
    author = books[0]["author_id"]
    theirs = [r for r in books if r["author_id"] == author]
    result = call(library, seeded, "max_book_price_usd_of_author", author_id=author)
    assert result["value"] == max(r["price_usd"] for r in theirs)
    fees = [r["late_fee_usd"] for r in rows(seeded, "loans") if r["member_id"] == "MEM-003"]
    assert call(library, seeded, "total_loan_late_fee_usd_of_member", member_id="MEM-003") == {
        "value": round(math.fsum(fees), 2), "count": len(fees)}


def test_an_aggregate_over_no_related_records(library, seeded):
    lonely = sorted(set(seeded.keys("books")) - {r["book_id"] for r in rows(seeded, "loans")})[0]
    assert call(library, seeded, "total_loan_late_fee_usd_of_book", book_id=lonely) == {"value": 0, "count": 0}
    assert call(library, seeded, "max_loan_late_fee_usd_of_book", book_id=lonely)["error"]["type"] == "not_found"


# -- writes ------------------------------------------------------------------------------------------------------


def test_create_adds_exactly_one_record_with_the_next_key(library, seeded):
    world = seeded.fork()
    book = next(r["id"] for r in rows(seeded, "books") if r["available"])
    key = f"LN-{seeded.count('loans') + 1:05d}"
    result = call(library, world, "create_loan", book_id=book, member_id="MEM-007", due_on="2025-08-01",
                  late_fee_usd=0)
    new = {"id": key, "book_id": book, "member_id": "MEM-007", "due_on": "2025-08-01",
           "returned": False, "late_fee_usd": 0.0}
    assert result == {"loan_id": key, **{k: v for k, v in new.items() if k != "id"}}
    assert world.diff() == {"loans": {key: [None, new]}}
    assert seeded.diff() == {} and seeded.get("loans", key) is None


def test_create_checks_references_uniqueness_and_date_ranges(library, seeded):
    world = seeded.fork()
    args = {"title": "A Fresh Title", "author_id": "AUT-999", "genre": "poetry", "year": 2001, "price_usd": 12.5}
    assert call(library, world, "create_book", **args)["error"]["type"] == "not_found"
    taken = seeded.get("books", "BK-0002")["title"]
    result = call(library, world, "create_book", **{**args, "author_id": "AUT-001", "title": taken.upper()})
    assert result["error"]["type"] == "invalid_state" and "BK-0002" in result["error"]["message"]
    late = call(library, world, "create_loan", book_id="BK-0001", member_id="MEM-001", due_on="2031-01-01", late_fee_usd=0)
    assert late["error"]["type"] == "bad_value"
    assert call(library, world, "create_book", **{**args, "price_usd": 500})["error"]["type"] == "bad_value"
    assert world.diff() == {}


def test_update_changes_only_the_given_fields(library, seeded):
    world = seeded.fork()
    before = seeded.get("loans", "LN-00004")
    result = call(library, world, "update_loan", loan_id="LN-00004", returned=not before["returned"], late_fee_usd=3.5)
    after = {**before, "returned": not before["returned"], "late_fee_usd": 3.5}
    assert result["loan_id"] == "LN-00004" and result["late_fee_usd"] == 3.5
    assert world.diff() == {"loans": {"LN-00004": [before, after]}}


def test_update_needs_a_field_and_an_existing_record(library, seeded):
    world = seeded.fork()
    assert call(library, world, "update_book", book_id="BK-0001")["error"]["type"] == "bad_value"
    assert call(library, world, "update_book", book_id="BK-9999", price_usd=9.0)["error"]["type"] == "not_found"
    assert call(library, world, "update_book", book_id="BK-0001", author_id="AUT-999")["error"]["type"] == "not_found"
    assert world.diff() == {}


def test_delete_removes_an_unreferenced_record(library, seeded):
    world = seeded.fork()
    loan = next(r["id"] for r in rows(seeded, "loans") if r["returned"])
    before = seeded.get("loans", loan)
    assert call(library, world, "delete_loan", loan_id=loan) == {"loan_id": loan, "deleted": True}
    assert world.diff() == {"loans": {loan: [before, None]}}
    assert call(library, world, "get_loan", loan_id=loan)["error"]["type"] == "not_found"


def test_a_declared_precondition_refuses_the_write_and_names_the_record(library, seeded):
    world = seeded.fork()
    lent = next(r["id"] for r in rows(seeded, "books") if not r["available"])
    shelf = next(r["id"] for r in rows(seeded, "books") if r["available"])
    args = {"member_id": "MEM-001", "due_on": "2025-08-01", "late_fee_usd": 0}
    refused = call(library, world, "create_loan", book_id=lent, **args)
    assert refused == {"error": {"type": "unavailable", "message": f"book {lent} is not available"}}
    assert world.diff() == {}
    assert "loan_id" in call(library, world, "create_loan", book_id=shelf, **args)  # negative control: it passes
    open_loan = next(r["id"] for r in rows(seeded, "loans") if not r["returned"])
    assert call(library, world, "delete_loan", loan_id=open_loan)["error"] == {
        "type": "invalid_state", "message": f"loan {open_loan} is not returned"}
    assert "Refused unless the book is available." in library.tool("create_loan").spec.description


def test_a_covers_precondition_compares_the_referenced_balance_with_the_amount():
    spec = {"name": "wallets", "entities": {
        "Wallet": {"count": 3, "fields": {"balance": {"type": "number", "min": 10, "max": 10}}},
        "Payment": {"count": 1, "fields": {
            "wallet_id": {"ref": "Wallet"}, "amount": {"type": "number", "min": 1, "max": 50}},
            "rules": [{"when": "create", "ref": "wallet_id", "field": "balance", "covers": "amount"}]}}}
    domain = declared_domain_from_dict(spec, where="test")
    world = domain.seeded(1).fork()
    create = domain.tool("create_payment")
    short = create.invoke(world, {"wallet_id": "WAL-0001", "amount": 25.0})
    assert short["error"]["type"] == "insufficient_funds" and "balance 10.00" in short["error"]["message"]
    assert "payment_id" in create.invoke(world, {"wallet_id": "WAL-0001", "amount": 9.5})




def test_delete_of_a_referenced_record_is_invalid_state(library, seeded):
    world = seeded.fork()
    book = seeded.get("loans", "LN-00001")["book_id"]
    result = call(library, world, "delete_book", book_id=book)
    assert result["error"]["type"] == "invalid_state" and "LN-00001" in result["error"]["message"]
    assert world.diff() == {}


def test_a_create_after_a_delete_never_overwrites_a_live_record(library, seeded):
    world = seeded.fork()
    returned = next(r["id"] for r in rows(seeded, "loans") if r["returned"])
    assert "deleted" in call(library, world, "delete_loan", loan_id=returned)
    book = next(r["id"] for r in rows(seeded, "books") if r["available"])
    created = call(library, world, "create_loan", book_id=book, member_id="MEM-007", due_on="2025-08-01",
                   late_fee_usd=0)
    n = seeded.count("loans")
    assert created["loan_id"] == f"LN-{n + 1:05d}"  # n - 1 rows + 1 is LN-n, which is live
    assert world.get("loans", "LN-00200") == seeded.get("loans", "LN-00200")


# -- chains ------------------------------------------------------------------------------------------------------


def test_a_depth_3_chain_feeds_each_answer_into_the_next_call(library, seeded):
    title = seeded.get("books", "BK-0020")["title"]
    book = call(library, seeded, "find_book_by_title", title=title)
    priciest = call(library, seeded, "max_book_price_usd_of_author", author_id=book["author_id"])
    loans = call(library, seeded, "list_loans_of_book", book_id=priciest["book_id"])
    assert not any(map(is_error, (book, priciest, loans)))
    assert all(r["book_id"] == priciest["book_id"] for r in loans["results"])
    author = call(library, seeded, "get_author", author_id=book["author_id"])
    assert call(library, seeded, "find_author_by_name", name=author["name"])["author_id"] == book["author_id"]


def test_the_specs_alone_allow_chains_of_depth_3(library):
    # A read tool with one entity parameter turns that entity into the x-entity fields of its result.
    edges: dict[str, set[str]] = {}
    for t in library.tools:
        required = t.spec.parameters["required"]
        if t.spec.mutates or len(required) != 1:
            continue
        src = t.spec.parameters["properties"][required[0]].get("x-entity")
        outs = {s["x-entity"] for s in t.spec.returns["properties"].values() if "x-entity" in s}
        if src:
            edges.setdefault(src, set()).update(outs - {src})
    assert "author_id" in edges["author_name"] and "book_id" in edges["author_id"] and "member_id" in edges["loan_id"]
    paths = [(a, b, c) for a in edges for b in edges[a] for c in edges.get(b, ())]
    assert ("book_title", "author_id", "book_id") in paths


# -- seeding -----------------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_state_and_another_seed_another(library):
    assert library.seeded(SEED).digest() == library.seeded(SEED).digest()
    assert library.seeded(SEED).digest() != library.seeded(SEED + 1).digest()


def test_seeded_references_point_at_existing_keys_and_values_respect_bounds(seeded):
    for loan in rows(seeded, "loans"):
        assert seeded.get("books", loan["book_id"]) and seeded.get("members", loan["member_id"])
        assert "2025-01-01" <= loan["due_on"] <= "2025-12-31" and 0 <= loan["late_fee_usd"] <= 12
    titles = [r["title"].casefold() for r in rows(seeded, "books")]
    assert len(set(titles)) == len(titles) and 120 <= len(titles) <= 150  # the seed varies counts by up to 20%


def test_the_seeded_state_is_plain_json_and_tools_never_mutate_it(library, seeded):
    snapshot = copy.deepcopy(library.seed_state(SEED))
    world = seeded.fork()
    call(library, world, "update_book", book_id="BK-0001", price=11.0)
    call(library, world, "create_author", name="Ada Writer", country="Kenya", born=1950)
    assert library.seed_state(SEED) == snapshot
    assert seeded.get("books", "BK-0001") == snapshot["books"]["BK-0001"]


# -- other domains and entry points ------------------------------------------------------------------------------


def test_the_clinic_example_loads_with_a_non_id_key():
    clinic = load_declared_domain(CLINIC)
    store = clinic.seeded(1)
    patient = call(clinic, store, "get_patient", patient_mrn="MRN-000001")
    assert patient["patient_mrn"] == "MRN-000001" and "mrn" not in patient
    visits = call(clinic, store, "count_appointments_of_patient", patient_mrn="MRN-000001")["count"]
    assert visits == sum(1 for r in store.rows("appointments") if r["patient_mrn"] == "MRN-000001")
    assert clinic.tool("get_appointment").spec.returns["properties"]["patient_mrn"]["x-entity"] == "patient_mrn"


def test_an_inline_domain_declared_as_a_dict_works():
    garage = declared_domain_from_dict(SMALL)
    store = garage.seeded(2)
    keys = sorted(store.keys("cars"))  # count 9; a world seed keeps 80-100% of it
    assert keys == [f"CAR-{n:02d}" for n in range(1, len(keys) + 1)] and 8 <= len(keys) <= 9
    assert call(garage, store, "total_car_km_of_owner", owner_id="OW-01")["value"] == sum(
        r["km"] for r in store.rows("cars") if r["owner_id"] == "OW-01")
    assert declared_domain_from_dict(SMALL) is garage  # built once per declaration


def test_the_library_is_a_builtin_world():
    domain = builtin_domain("library")
    assert domain.tool("get_book").spec.source == "builtin"
    assert call(domain, domain.seeded(1), "get_author", author_id="AUT-001")["author_id"] == "AUT-001"

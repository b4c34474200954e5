"""The write tools of a declared entity: create, update and delete, with the preconditions its rules declare."""

from __future__ import annotations

from typing import Any

from agentfab.schemas.answers import render_value
from agentfab.schemas.wording import AFTER_NOUN, counts, join_words, label, unit_after, with_article
from agentfab.worlds.core import Record, Store, ToolError
from agentfab.worlds.declared_family import NAMES, Builder, Family, before_noun, own_words
from agentfab.worlds.declared_schemas import key_schema, object_schema, param_schema, record_schema
from agentfab.worlds.declared_spec import EntityDef, relation_label


def _create_words(fam: Family, required: list[str], words: dict[str, str], given: dict[str, str]) -> str:
    """What a create request gives after "create a new", the way a person lists it: the kind of thing before its
    noun, its name, the records it belongs to, its day, then the rest ("pet named {name} for owner {owner_id} with
    species {species} and weight {weight_kg} kg", "{room_type} room for property {property_id} with ...", "member
    ... on the {plan} plan"), not "pet with owner {owner_id}, name {name}, species ...". A relation with a role of
    its own ("home team", "assignee") stays in the "with" list."""
    named = next((n for n in required if words[n] in NAMES and n not in fam.targets), None)
    owners = [n for n in required if n in fam.targets and fam.targets[n].key_name == n]
    when = next((n for n in required if words[n] in ("day", "date") and n not in owners), None)
    # how long it lasts, before the rest: "lasting {minutes} minutes", "for {nights} nights", never "with 35 minutes"
    long = next((n for n in required if words[n] in _LASTS and n not in owners), None)
    fields = {f.name: f for f in fam.e.fields}
    # what kind it is before the noun ("a new suite room"); a plan, a team, a cause in words of its own
    kind = next((n for n in required if before_noun(fields[n]) and n not in owners), None)
    listed = [n for n in required if n not in (named, when, long, kind) and n not in owners]
    # a plan, a team, a cause in words of its own after the rest; a priority is one more item of the "with" list
    # ("with assignee {assignee_id}, subject {subject} and {priority} priority")
    roles = [n for n in listed if n in AFTER_NOUN and fields[n].choices and not AFTER_NOUN[n].startswith(" with ")]
    rest = [AFTER_NOUN[n].format(f"{{{n}}}").removeprefix(" with ") if n in AFTER_NOUN and fields[n].choices
            else given[n] for n in listed if n not in roles]
    return ((f"{{{kind}}} " if kind else "") + fam.e.words
            + (f" {NAMES[words[named]]} {{{named}}}" if named else "")
            + (f" for {join_words([given[n] for n in owners])}" if owners else "")
            + (f" on {{{when}}}" if when else "") + (f" {_LASTS[words[long]]} {given[long]}" if long else "")
            + "".join(AFTER_NOUN[n].format(f"{{{n}}}") for n in roles)
            + (f" with {join_words(rest)}" if rest else ""))


_LASTS = {"minutes": "lasting", "hours": "lasting", "nights": "for", "days": "for", "weeks": "for"}


def writes(b: Builder, fam: Family) -> None:
    e, d, out, k = fam.e, b.d, fam.out, fam.e.key_name
    table, key, fields = e.table, e.key, e.fields
    record = record_schema(e, d)
    rec = "" if e.words.endswith("record") else " record"
    params = {f.name: param_schema(f, e, d, b.examples) for f in fields}
    required = [f.name for f in fields if f.kind != "boolean"]
    create_params = {f.name: ({**params[f.name], "default": f.default} if f.kind == "boolean" else params[f.name])
                     for f in fields}

    def create(store: Store, **kw: Any) -> Record:
        n = store.serial(table)
        while store.get(table, e.key_of(n)) is not None:
            n += 1
        new_key = e.key_of(n)
        rec = {key: new_key}
        for f in fields:
            rec[f.name] = fam.check_value(store, f, kw.get(f.name, f.default), None)
        fam.check_rules(store, "create", rec)
        store.put(table, new_key, rec)
        return out(rec)

    words = {f.name: relation_label(f, fam.targets[f.name]).replace("_", " ") if f.target
             else own_words(e, f, label(f.name)) for f in fields}
    # "delay {delay_minutes} minutes", "{days} days"
    given = {n: f"{{{n}}} {words[n]}" if counts(words[n]) else f"{words[n]} {{{n}}}" + unit_after(n) for n in required}
    colon = ", ".join(given[n] for n in required)
    b.add(f"create_{e.snake}",
          f"Create a new {e.words}; its id is assigned and returned."
          + (" Referenced records must exist." if fam.targets else "")
          + "".join(f" The {f.words} must be unique." for f in fields if f.unique) + _rules_text(e, "create"),
          create_params, required, record, create,
          (f"create a new {_create_words(fam, required, words, given)}", f"add {with_article(e.words)}: {colon}"),
          (k,), mutates=True)

    def update(store: Store, **kw: Any) -> Record:
        own = kw[k]
        rec = fam.require(store, own)
        changes = {f.name: fam.check_value(store, f, kw[f.name], own) for f in fields if f.name in kw}
        if not changes:
            raise ToolError("bad_value", f"give at least one field of the {e.words} to change")
        fam.check_rules(store, "update", rec)
        new = {**rec, **changes}
        store.put(table, own, new)
        return out(new)

    b.add(f"update_{e.snake}",
          f"Change one or more fields of {with_article(e.words)}; fields not given keep their value." + _rules_text(e, "update"),
          {k: key_schema(e), **params}, [k], record, update,
          (f"update the {e.words}{rec} for {{{k}}}", f"change the {e.words} details on file for {{{k}}}"), (k,),
          mutates=True, min_params=2)

    def delete(store: Store, **kw: Any) -> dict[str, Any]:
        own = kw[k]
        fam.check_rules(store, "delete", fam.require(store, own))
        for other, f in fam.referrers:
            users = sorted(r[other.key] for r in store.where(other.table, f.name, own))
            if users:
                # "(CAR-0010, CAR-0019, CAR-0020, CAR-0025, CAR-0035 and 1 more)": a reply passes it on as it reads
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                what = other.words if len(users) == 1 else other.plural_words
                raise ToolError("invalid_state", f"{e.words} {own} still has {len(users)} {what} ({shown}), "
                                                 "which must be deleted or reassigned first")
        store.delete(table, own)
        return {k: own, "deleted": True}

    refs = sorted({o.plural_words for o, _ in fam.referrers})
    b.add(f"delete_{e.snake}",
          f"Delete {with_article(e.words)}."
          + (f" Refused while {' or '.join(refs)} still reference it." if refs else "") + _rules_text(e, "delete"),
          {k: key_schema(e)}, [k],
          object_schema({k: key_schema(e, f"The deleted {e.words}"), "deleted": {"type": "boolean"}}), delete,
          (f"delete the {e.words}{rec} for {{{k}}}", f"remove {e.words} {{{k}}}"), (k,),
          mutates=True)


def _rules_text(e: EntityDef, op: str) -> str:
    """The entity's preconditions for `op`, as the sentences a tool description carries."""
    out = []
    for r in e.rules:
        if r.when != op:
            continue
        whose = f"the {r.ref[:-3] if r.ref.endswith('_id') else r.ref}" if r.ref else "it"
        words = r.field.replace("_", " ")
        if r.covers:
            out.append(f" Refused unless {whose}'s {words} covers the {r.covers.replace('_', ' ')}.")
        elif isinstance(r.equals, bool):
            out.append(f" Refused unless {whose} is {'' if r.equals else 'not '}{words}.")
        else:
            out.append(f" Refused unless {whose}'s {words} is {render_value(r.equals)}.")
    return "".join(out)

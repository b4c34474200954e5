"""The offline engine's replies: facts stated the way an assistant talks to a person (the words of tools and
requests are in `language`; what a reply says of a failure is in `failures`).

- `reply(parts, rng)`: the reply to a turn; each `Said` part states the facts its request asked for.
Values are always written by `render_value`, so the answer checks find them as whole tokens. A draw is
`rng._randbelow(n)`, the very draw `rng.choice` and `rng.randrange(n)` make, without their two extra calls (rows
depend on the draws, the stage's time on the calls).
"""

from __future__ import annotations

import functools
import random
import string
from typing import Any

from agentfab.generators.facts import (QUOTED, Fact, Said, ToolWords, fact_clause, fact_label, facts as _facts,
                                       for_about, preposition as _preposition, states_all, subject, value_text, words)
from agentfab.generators.language import _cap, action_text, param_label, past
from agentfab.generators.reply_heads import holder, kind_said, over_ending, which_record
from agentfab.schemas.answers import render_value
from agentfab.schemas.wording import counted, is_person, join_words, noun, singular, yes_no_statement
from agentfab.worlds.core import Tool



def headline(tool: Tool, arguments: dict[str, Any]) -> str:
    """A heading for a part of a reply: "Latest booking of traveler T-211", "Weather for Miami on 2026-12-19"."""
    return _headline(words(tool), subject(tool, arguments), arguments)


def _headline(named: ToolWords, about: str, arguments: dict[str, Any]) -> str:
    what = named.topic
    first = named.first_id(arguments)
    if first is not None and named.id_noun(first) == what:
        return _cap(about)
    if len(arguments) == 1 and param_label(named.tool, next(iter(arguments))) == what:  # "Team research", not "Team for
        return _cap(f"{what} {render_value(next(iter(arguments.values())))}")    # the team research"
    if not about:
        return _cap(what)
    joiner = " of " if first is not None else f" {_preposition(next(iter(arguments)))} "
    joiner = " " if about.startswith("from ") else joiner  # "Flights from ORD to BOS on ...": the route says it
    return _cap(what + joiner + about)


def _created_key(part: Said) -> str | None:
    """The result field that holds a created record's new id: `project_id` of create_project, `booking_id` of
    book_flight (an id field the call was not given)."""
    result = part.result if isinstance(part.result, dict) else {}
    given = {render_value(v) for v in part.arguments.values()}
    key = part.named.topic.replace(" ", "_") + "_id"
    fields = [key] + [f for f in part.asks if f.endswith("_id") and f != key]
    return next((f for f in fields if f in part.asks and isinstance(result.get(f), str) and result[f] not in given),
                None)


def _record(part: Said) -> tuple[str, str]:
    """(kind, words) of the record a call is about: ("location", "location LOC-0003")."""
    named = part.named
    first = named.first_id(part.arguments)
    if first is not None:
        thing = named.id_noun(first)
        return thing, f"{thing} {render_value(part.arguments[first])}"
    result = part.result if isinstance(part.result, dict) else {}
    thing = named.results_noun
    key = result.get(named.results_key)
    return (thing, f"{thing} {key}") if isinstance(key, str) else ("it", "it")


def yes_no_fact(part: Said, field: str) -> str:
    """A boolean fact as a statement: "location LOC-0003 is not at an airport"."""
    thing, record = _record(part)
    return yes_no_statement(part.named.described(field), field, thing, record, part.result[field])


def _verdicts(part: Said) -> list[str]:
    """The yes/no facts: answers when the request asked whether ("No, location LOC-0003 is not at an airport."),
    and in a record's details, where nobody asked, sentences of their own ("The student did not drop the course.",
    not "And no, ..." as if it answered a question). The predicate ("did not drop the course") is what the checks
    look for either way (`schemas.wording.yes_no_predicate`)."""
    flags = part.flags
    if not flags:
        return []
    result = part.result
    if _whether_first(part) or len(flags) == len([f for f in part.asks if f in result]):  # asked whether
        return [f"{'Yes' if result[f] else 'No'}, {yes_no_fact(part, f)}." for f in flags]
    # after the record's own details: "The car has been returned.", not "For rental RNL-12, the car ..." again
    return [f"{_cap(_after_details(yes_no_fact(part, f)))}." for f in flags]


def _whether_first(part: Said) -> bool:
    """Did the request ask whether before anything else ("tell me whether ABS-18 was excused", its pupil added
    for a later turn)? The answer then comes first: "Yes, absence ABS-18 was excused. The pupil is PUP-14."."""
    return part.asks[0] in part.flags


def _after_details(statement: str) -> str:
    return statement.partition(", ")[2] if statement.startswith("for ") else statement


def fact_text(part: Said, field: str) -> str:
    """One asked fact as a clause (for reasoning): "the title is Dune", "club CLB-4 has a pool"."""
    clause = part.clauses.get(field)  # worked out once per part (never a yes/no)
    if clause is not None:
        return clause
    result = part.result if isinstance(part.result, dict) else {}
    if isinstance(result.get(field), bool):
        return yes_no_fact(part, field)
    return fact_clause(fact_label(part.tool, field),
                       value_text(field, result[field], result, part.named.described(field)), result[field])


def _sentences(part: Said, rng: random.Random) -> str:
    """One part as prose, shaped by its tool class; a fact the chosen shape left unsaid is added at the end."""
    text = _shaped(part, rng)
    unsaid = _facts(part, said=text) if not states_all(part, text) else None  # most shapes say every fact
    if unsaid:
        text = (text + " " if text else "") + _cap(join_words([f[3] for f in unsaid])) + "."
    if not part.flags:
        return text.strip()
    verdicts = _verdicts(part)
    return " ".join([*verdicts, _cap(text)] if _whether_first(part) else [text, *verdicts]).strip()


_NAMING = ("name", "title", "company", "holder", "username")  # a record's own words, in the order they name it


def _found_ids(named: ToolWords, result: dict[str, Any], asked: dict[str, Any]) -> str:
    """A list or search names what it found (": BLD-003 and BLD-007"), not only how many; when the tool returned
    only the first page of a longer list, it says so ("; the first 10 are ...")."""
    key = named.results_key
    found = result.get("results")
    if found is None:  # a hand-written tool names its list ("products", "events")
        found = next((v for v in result.values() if isinstance(v, list) and v and isinstance(v[0], dict)), None)
    if not isinstance(found, list) or not found:
        return ""
    ids = [item.get(key) for item in found if isinstance(item, dict)]
    if len(ids) != len(found) or not all(isinstance(i, str) for i in ids):
        return ""
    shown = next((f for f in _NAMING if all(isinstance(item.get(f), str) for item in found)), None)
    # "Erica Lopez (TRN-004)", not the ids alone; not where every name is the one searched for
    if shown is not None and {item[shown].lower() for item in found} != {str(asked.get(shown)).lower()}:
        ids = [f"{item[shown]} ({i})" for item, i in zip(found, ids)]
    total = result.get("count")
    if isinstance(total, int) and total > len(ids):
        return f"; the first {len(ids)} are " + join_words(ids)
    return ": " + join_words(ids)


def _said_as(part: Said) -> str | None:
    """The sentence the tool's world wrote for its result ("P-124 is free from 09:00 to 10:30 on 2026-12-01"),
    where it has one, it names an asked field and every field it names is at hand."""
    result = part.result if isinstance(part.result, dict) else {}
    fields = _fields_of(part.tool.says or "")
    if not fields or not any(f in part.asks for f in fields):
        return None
    values = {**part.arguments, **result}
    if not all(f in values and not isinstance(values[f], (bool, list, dict)) for f in fields):
        return None
    named = part.named
    return _cap(part.tool.says.format(**{f: value_text(f, values[f], result, named.described(f)) for f in fields})) + "."


@functools.lru_cache(maxsize=1024)
def _fields_of(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)


def _shaped(part: Said, rng: random.Random) -> str:
    """What `part` says, drawn from the shapes its tool class allows: the shapes are worked out, then drawn from
    as the rng always was."""
    said = _said_as(part) if part.tool.says else None
    if said is not None:
        return said
    named = part.named
    cls = named.cls
    result = part.result if isinstance(part.result, dict) else {}
    if cls in ("list", "search", "count") and "count" in part.asks and isinstance(result.get("count"), int):
        own, drawn = _count_heads(part, result["count"])
        if own is not None and rng.random() < 0.5:  # "Contact CON-46 has no activities"
            head = own
        else:
            head = drawn if type(drawn) is str else drawn[rng._randbelow(2)]  # as rng.choice(drawn) draws
        return _counted(part, result, head)
    if cls in ("create", "update", "delete", "act"):
        done = past(action_text(part.tool, part.arguments))
        lead = (f"I've {done}", f"Done: I {done}", f"I {done}")[rng._randbelow(3)]  # as rng.choice draws
        key = _created_key(part) if cls == "create" else None
        new = key is not None
        facts = _facts(part, (key,) if new else (), said=done)
        if new:  # "The project is PRJ-1725" says nothing: the id is the new record's
            said = [f"The new {noun(key)}'s ID is {result[key]}", f"Its ID is {result[key]}"]
            lead += ". " + (said[rng._randbelow(2)] if noun(key) == named.topic else said[0])  # "its" = what it made
        return f"{lead}. {_cap(join_words([f[3] for f in facts]))}." if facts else f"{lead}."
    by_value = len(part.arguments) == 1 and named.first_id(part.arguments) is None  # asked with one value, not an id
    found = _found_by_value(part, rng) if cls == "lookup" and by_value else None
    if found is not None:
        return found
    return _described(part, by_value, rng)


def _described(part: Said, by_value: bool, rng: random.Random) -> str:
    """A record's facts as a sentence: the one sentence, or one of the two a reply draws from (the draw of
    rng.choice((first, second)); only the one drawn is written)."""
    about = part.about
    facts = _facts(part, said=about)
    if not facts:
        full = _facts(part)
        return _cap(join_words([f[3] for f in full])) + f" {for_about(about)}." if full else ""
    clauses = [f[3] for f in facts]
    tail = for_about(about)
    lead, tail = (_scope(part) if by_value else None) or (_cap(tail), tail)  # "In Chicago", not "For the city Chicago"
    if part.named.cls == "aggregate":
        over = part.named.described("count")  # "orders counted": what a total or an average is over
        if over.endswith(" counted") and type(part.result) is dict and part.result.get("count") == 0:
            # "Customer CUS-039 has no orders, so the total declared value is 0.00", not "... is 0.00 for ..."
            none = f"{_cap(about)} has no {over[:-8]}" if about else f"There are no {over[:-8]}"
            return f"{none}, so {join_words(clauses)}."
        held = holder(part)  # the record that has a highest or lowest value: "(book BK-0127)"
        if held is not None:
            clauses = [c for f, c in zip(facts, clauses) if f[2] != held[1]] or clauses
        ending = over_ending(over, part.result, tail if about else "")
        return _cap(join_words(clauses)) + (f"{ending[:-1]} ({held[0]} {held[1]})." if held else ending)
    if not about:
        return _cap(join_words(clauses)) + "."
    which = which_record(part, facts, about)  # "The latest booking of traveler T-209 is BK-0034: ..."
    if which is not None:
        return which
    if len(clauses) == 1:
        lab, text, value, _ = facts[0]
        if clauses[0].startswith(("it has ", "it takes ")) and not about.startswith("the "):
            return f"{_cap(about)} {clauses[0][3:]}."  # "Field FLD-4 has 105.04 hectares."
        if (clauses[0].startswith(("the number of ", "there are no ")) and not about.startswith("the ")
                and " " not in lab.removeprefix("number of ")):  # a plain noun: not "customers affected"
            # "Plant PLT-002 has 5 lines.", not "The lines of plant PLT-002 is 5."
            things = lab.removeprefix("number of ")
            things = singular(things) if value == 1 else things  # "has 1 runway", never "has 1 runways"
            return f"{_cap(about)} has {'no' if value == 0 else text} {things}."
        if about.startswith("the "):
            return f"{lead}, {clauses[0]}." if rng._randbelow(2) else f"{_cap(clauses[0])} {tail}."
        if rng._randbelow(2):
            return f"{_cap(for_about(about))}, {clauses[0]}."
        verb = "are" if isinstance(value, list) and len(value) != 1 else "is"
        of = "" if about.startswith("from ") else "of "  # "The cheapest flight from ORD to BOS on ... is FL-1."
        return f"The {lab} {of}{about} {verb} {text}."
    itself = not about.startswith("the ") and about.split(" ", 1)[0] == part.named.topic  # get_person: the person
    kind = "" if about.startswith("the ") else about.rsplit(" ", 1)[0]
    if is_person(kind):  # "For teacher TCH-15, ... and they have 28 years of experience", never "it has"
        clauses = [_its(c, kind) if c.startswith(("it has ", "it takes ")) else c for c in clauses]
    listed = join_words(clauses)
    if rng._randbelow(2):
        return _cap((f"Here is {about}: " if itself else f"{lead}, ") + listed) + "."
    return _cap(f"{lead}, " + listed) + "."


def _count_heads(part: Said, n: int) -> tuple[str | None, str | tuple[str, str]]:
    """The heads of a count's sentence: one about the record the count is of ("Contact CON-46 has 2 activities",
    None without a record), and the head to say otherwise, or the two to draw from."""
    named, about = part.named, part.about
    kind, of_kind = kind_said(part)  # "22 undergraduate courses", not "22 courses with level undergraduate"
    what = counted(n, f"{kind} {named.results_noun}" if kind else named.results_noun)
    there = "There is" if n == 1 else "There are"
    # (a record in one of its roles is not said to have them: "5 matches with home team TM-0009", `facts._subject`)
    record = named.first_id(part.arguments) is not None and not about.startswith("the ")
    when = " ".join(f"{_preposition(a)} {render_value(v)}" for a, v in part.arguments.items()
                    if named.id_noun(a) is None) if record else ""  # "... has no events on 2026-12-18"
    own = f"{_cap(about)} has {what}" + (f" {when}" if when else "") if record else None
    if kind or of_kind:  # the kind says what was searched by
        after = of_kind or ""
    else:
        after = (_with_value(part, about) if about.startswith("the ") else f" {for_about(about)}") if about else ""
    after += f" {when}" if when else ""
    if not n:
        return own, f"There are {what}" + after
    return own, (f"I found {what}" + after, f"{there} {what}" + after)


def _with_value(part: Said, about: str) -> str:
    """What records were found with, after their count: " in Seattle", " named Milo", " titled Dune", " with model
    E190"."""
    if len(part.arguments) == 1:
        (param, value), = part.arguments.items()
        if type(value) is str and _is_city(param):
            return f" in {value}"  # "3 hotels in Seattle", not "3 hotels with city Seattle"
        how = "named" if param == "name" or param.endswith("_name") else "titled" if param == "title" else None
        if type(value) is str and how is not None:
            found = part.result.get("results") if type(part.result) is dict else None
            if isinstance(found, list) and all(type(r) is dict and str(r.get(param, "")).casefold()
                                               == value.casefold() for r in found):
                said = f'"{value}"' if param in QUOTED and " " in value else value  # as a title is said elsewhere
                return f" {how} {said}"  # a search by part of a name keeps "with ...": "Anthony" finds "Anthony Lee"
    return f" with {about[4:]}"


def _counted(part: Said, result: dict[str, Any], head: str) -> str:
    """A count's sentence after its head: the ids found, and the other asked facts the head does not say."""
    named, n = part.named, result["count"]
    found = _found_ids(named, result, part.arguments) if named.cls != "count" else ""
    rest = _facts(part, ("count",), said=head)  # never "... for customer CUS-123; the customer is CUS-123"
    listed = next((r for r in rest if isinstance(r[2], list) and r[0] == named.results_plural), None) \
        if not found else None
    if listed is not None and n:  # "2 accounts: ACC-1023 and ACC-1060", not "...; the accounts are ..."
        found = ": " + listed[1]
        rest.remove(listed)
    head += found
    tail = "; " + join_words([f[3] for f in rest]) if rest else ""
    return head + tail + "."


def _is_city(param: str) -> bool:
    """A value said after "in": "In Chicago", "3 hotels in Seattle"."""
    return param == "city" or param.endswith("_city")


def _scope(part: Said) -> tuple[str, str] | None:
    """How a reply names the one value a lookup was asked with, where "For the city Chicago" is not how a person
    says it: ("In Chicago", "in Chicago"), ("For Vazquez-King", "for Vazquez-King")."""
    if len(part.arguments) != 1:
        return None
    (param, value), = part.arguments.items()
    if part.named.id_noun(param) is not None or not isinstance(value, str):
        return None
    if _is_city(param):
        return f"In {value}", f"in {value}"
    if param in _NAMING:
        return f"For {value}", f"for {value}"
    return None


_FOUND_BY = {"name": "named", "title": "titled", "city": "in", "username": "with the username",
             "email": "with the email address", "label": "labelled", "company": "of the company"}


def _found_by_value(part: Said, rng: random.Random) -> str | None:
    """A record found by one value, said as a person would: "The teacher named Janet Friedman is TCH-0029" or
    "Janet Friedman's teacher ID is TCH-0029", never "The teacher is TCH-0029 for the name Janet Friedman"."""
    heads = _by_value_heads(part)
    if not heads:
        return None
    whose, the = heads
    head = whose if whose is not None and rng.random() < 0.5 else the
    return _found_as(part, head)


def _by_value_heads(part: Said) -> tuple[str | None, str] | tuple[()]:
    """The heads `_found_by_value` says ("Janet Friedman's teacher ID is TCH-0029", None but for a name; "The
    teacher named Janet Friedman is TCH-0029"), or () where it does not apply."""
    result = part.result if isinstance(part.result, dict) else {}
    named = part.named
    if len(part.arguments) != 1 or named.id_noun(next(iter(part.arguments))) is not None:
        return ()
    thing = named.topic
    key = thing.replace(" ", "_") + "_id"
    if key not in part.asks or not isinstance(result.get(key), str):
        return ()
    (param, value), = part.arguments.items()
    said = render_value(value)
    if param in QUOTED and " " in said:
        said = f'"{said}"'  # 'The album titled "Quiet Hearts"', as its facts quote a title
    how = _FOUND_BY.get(param)
    if how is None and (param.endswith("_name") or param_label(part.tool, param) == thing):
        how = "named"  # "The company named Harris, Bell and McCoy", never "The company with company ..."
    whose = said + ("'" if said.endswith("s") else "'s")
    return (f"{whose} {thing} ID is {result[key]}" if param == "name" else None,
            f"The {thing} {how or 'with ' + param_label(part.tool, param)} {said} is {result[key]}")


def _found_as(part: Said, head: str) -> str:
    thing = part.named.topic
    rest = _facts(part, (thing.replace(" ", "_") + "_id",), said=head)
    if rest:
        head += ". " + _cap(join_words([_its(f[3], thing) for f in rest]))
    return " ".join([head + ".", *_verdicts(part)])


def _its(clause: str, thing: str) -> str:
    """"the artist is ART-6" about a record just named reads "its artist is ART-6"; about a person, "their name
    is Mary Brown" and "they have 28 years of experience"."""
    if not is_person(thing):
        return "its " + clause[4:] if clause.startswith("the ") else clause
    if clause.startswith("it has "):
        return "they have " + clause[7:]
    if clause.startswith("it takes "):
        return "they take " + clause[9:]
    return "their " + clause[4:] if clause.startswith("the ") else clause


def _head(part: Said) -> str:
    return _cap(past(action_text(part.tool, part.arguments))) if part.named.mutates else \
        _headline(part.named, part.about, part.arguments)


def _bullets(part: Said, head: str, facts: list[Fact]) -> str:
    """`head`, then the facts (those `head` does not say) one a line."""
    facts = facts or _facts(part)
    verdicts = _verdicts(part)  # a paragraph of their own after the list, not a line that reads as an item
    verdicts = "\n\n" + " ".join(verdicts) if verdicts else ""
    # a list item is its value alone: "- Subject: Hiring panel", where a sentence quotes it
    return head + ":\n" + "\n".join(f"- {_cap(f[0])}: {f[1].strip(chr(34))}" for f in facts) + verdicts


READ_LEADS = ("", "Here's what I found. ", "Sure. ", "I checked. ", "Got it. ")
WRITE_LEADS = ("", "All set. ", "Done. ")


def reply(parts: list[Said], rng: random.Random) -> str:
    """The reply to one turn: every part's asked facts, as prose or (for fact-heavy parts) a short list."""
    if not parts:
        return "Done."
    asked = len(parts[0].asks) if len(parts) == 1 else sum([len(p.asks) for p in parts])
    use_list = asked >= 4 and rng.random() < 0.4
    texts = []  # the parts' texts that say something
    for part in parts:
        if use_list and len(part.stated) >= 3:  # (fewer stated facts leave fewer than 3 after the head)
            head = _head(part)
            facts = _facts(part, said=head)
            if len(facts) >= 3:
                texts.append(_bullets(part, head, facts))
                continue
        text = _sentences(part, rng)
        if text:
            texts.append(text)
    writes = parts[0].named.mutates if len(parts) == 1 else any([p.named.mutates for p in parts])
    leads = WRITE_LEADS if writes else READ_LEADS
    lead = leads[rng._randbelow(len(leads))]  # as rng.choice(leads) draws
    lead = "" if texts and texts[0].startswith(("Done", "I've", "I ", "Here")) else lead
    if len(texts) > 1:  # (one text opening with "Done" has no lead)
        done = [i for i, t in enumerate(texts) if t.startswith("Done: I ")]
        for i in done[0 if lead.startswith(("Done", "All set")) else 1:]:  # "Done: I created ... Done: I updated
            texts[i] = texts[i][len("Done: "):]  # ..." and "All set. ... Done: I deleted ..." say it once
    joiner = "\n\n" if use_list else " "
    return (lead + joiner.join(texts)).strip() or "Done."

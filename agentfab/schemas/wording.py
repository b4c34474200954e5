"""How field and parameter names read to a person: one place for the words requests, replies and checks use.

"hq_city" reads "headquarters city", "owner_id" reads "owner", "due_on" reads "due date"; "1 nights" is never
written. Worlds (declared-domain phrases), generators (requests, replies) and validators (the template lint) all
read these, so a label is chosen once.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Field names whose plain reading is wrong or unclear. Everything else follows the suffix rules in `label`.
LABELS: dict[str, str] = {
    "hq_city": "headquarters city",
    "built_year": "year built",
    "eta": "ETA",  # estimated time of arrival, said as letters
    "high_c": "high",
    "low_c": "low",
    "from_balance": "new balance of the source account",
    "from_account": "source account",
    "to_account": "destination account",
    "price_per_night": "nightly rate",
    "seats_left": "free seats",
    "rooms_left": "free rooms",
    "lead_id": "team lead",
    "lead_name": "lead's name",
    "member_count": "head count",
    "owner_id": "owner",
    "organizer_id": "organizer",
    "attendee_ids": "attendees",
    "account_ids": "accounts",
    "cheapest_flight_id": "cheapest flight",
    "cheapest_hotel_id": "cheapest hotel",
    "cheapest_product_id": "cheapest product",
    "cheapest_price": "lowest price",
    "airport_code": "airport code",
    "refund_amount": "refund",
    "placed_on": "order date",
    "check_in": "check-in date",
    "duration_minutes": "length in minutes",
    "company_name": "company",
    "in_stock": "in stock",
    "stay_id": "stay",
    "id": "ID",
    "email": "email address",
    "type": "type",
    "stars": "star rating",
    "born": "birth year",
    "founded": "founding year",  # "the founding year is 1987", never "the founded is 1987"
    "built_year": "year built",
    "year": "year",
    "tier": "tier",
    "count": "number",
    "restocked": "number of units put back in stock",
    "notified": "number of people notified",
    "flight_hours": "flight hours",  # as its aggregate says it ("the maximum number of flight hours")
    "operating_hours": "operating hours",  # what it counts, not "operating" in hours
    "kwh": "energy use",
}

# "hired_on" is the hire date, "filed_on" the filing date
_STEMS = {"hired": "hire", "filed": "filing", "released": "release", "closed": "closing", "created": "creation",
          "issued": "issue", "paid": "payment", "placed": "order", "done": "completion", "scheduled": "scheduled",
          "registered": "registration", "shipped": "shipping", "signed": "signing", "enrolled": "enrollment",
          "born": "birth", "starts": "start", "ends": "end", "joined": "join", "installed": "install",
          "delivered": "delivery", "opens": "opening", "closes": "closing", "arrived": "arrival",
          "departed": "departure", "returned": "return", "submitted": "submission", "updated": "update",
          "approved": "approval", "received": "receipt"}
# Units a field name ends with: the label drops them, the value carries them ("distance_km" -> distance 661.90 km).
UNITS = {"_km": "km", "_kg": "kg", "_mg": "mg", "_minutes": "minutes", "_hours": "hours", "_usd": "USD", "_eur": "EUR",
         "_pct": "%", "_kwh": "kWh"}

# A field named for a span of time spent on something: "years_experience" reads "years of experience".
_OF_UNITS = frozenset({"years", "months", "weeks", "days"})
_SPENT_ON = frozenset({"experience", "service", "employment", "membership", "tenure", "coverage", "study"})

# Records that are people: a reply says "their name", "they have 28 years of experience", never "its".
PEOPLE = frozenset(("person", "people", "teacher", "renter", "borrower", "customer", "member", "owner", "guest",
                    "traveler", "employee", "patient", "doctor", "pupil", "student", "instructor", "agent", "donor",
                    "tenant", "driver", "vet", "contact", "author", "artist", "professor", "passenger", "trainer",
                    "volunteer", "policyholder", "subscriber", "attendee", "organizer", "manager", "officer",
                    "coach", "nurse", "pharmacist", "technician", "mechanic", "rider", "courier", "buyer",
                    "seller", "client", "candidate", "applicant", "user", "player", "physician", "dentist",
                    "therapist", "lawyer", "broker", "adjuster", "recruiter", "speaker", "host", "visitor",
                    "curator", "guide", "chef", "waiter", "cashier", "staff", "worker", "operator", "pilot",
                    "assignee", "reviewer", "approver", "landlord", "resident", "athlete", "learner", "reader",
                    "listener", "farmer"))


# Records a customer holds and speaks of as "my card"; of anything else a user (often staff) says "one of our
# airports", of a person "one of our borrowers".
HELD = frozenset(("account", "card", "loan", "order", "booking", "reservation", "appointment", "claim", "policy",
                  "prescription", "ticket", "rental", "subscription", "car", "vehicle", "playlist", "review",
                  "donation", "pet", "package", "shipment", "application", "enrollment", "membership", "payment",
                  "invoice", "bill", "trip", "refill", "lease", "pledge", "deposit", "transfer", "cart", "wishlist"))


def is_person(thing: str) -> bool:
    """Whether a record kind names a person: "teacher", "loan officer", "support agent"."""
    return thing.rsplit(" ", 1)[-1] in PEOPLE


# Words that take a count: "1 nights" -> "1 night".
_COUNTED = {"nights": "night", "units": "unit", "seats": "seat", "rooms": "room", "days": "day", "guests": "guest",
            "copies": "copy", "people": "person", "minutes": "minute", "accounts": "account", "books": "book",
            "loans": "loan", "members": "member", "authors": "author", "events": "event", "orders": "order",
            "products": "product", "results": "result", "meetings": "meeting", "items": "item", "hours": "hour",
            # what the synthesized domains' whole-number fields count: "with 54 gates", not "with gates 54"
            "bedrooms": "bedroom", "songs": "song", "gates": "gate", "runways": "runway", "floors": "floor",
            "tracks": "track", "employees": "employee", "attendees": "attendee", "lines": "line",
            "substations": "substation", "goals": "goal", "refills": "refill", "credits": "credit",
            "monthly listeners": "monthly listener",
            # and what they measure: "235.27 hectares", not "hectares 235.27"
            "hectares": "hectare", "tonnes": "tonne", "flight hours": "flight hour",
            "operating hours": "operating hour"}
_SAID = sorted({w for pair in _COUNTED.items() for w in pair}, key=lambda w: (-len(w), w))  # longest first
COUNTED_WORDS = "(?:" + "|".join(re.escape(w) for w in _SAID) + ")"  # a counted word, plural or singular


def counts(words: str) -> bool:
    """Whether a field's words name what its number counts ("days", "nights"): said "27 days", not "days 27"."""
    return words in _COUNTED


def as_asked(words: str) -> str:
    """A field's words as a request or an update says them: "number of lines" for a count, else as they are."""
    return f"number of {words}" if words in _COUNTED else words


_ONE = re.compile(r"\b(?<![.\d])(1|one) (" + "|".join(_COUNTED) + r")\b")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


@lru_cache(maxsize=4096)
def label(name: str) -> str:
    """A field or parameter name as a person says it: `owner_id` -> "owner", `due_on` -> "due date"."""
    if name in LABELS:
        return LABELS[name]
    for suffix in UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return label(name[: -len(suffix)])
    head, _, rest = name.partition("_")
    if head in _OF_UNITS and rest in _SPENT_ON:
        return f"{head} of {label(rest)}"  # "years_experience" is "years of experience", not "years experience"
    if name.endswith("_ids"):
        return plural(label(name[:-4]))
    if name.endswith("_id"):
        return name[:-3].replace("_", " ")
    if name.endswith("_on"):
        words = name[:-3].split("_")
        words[-1] = _STEMS.get(words[-1], _stem(words[-1]))
        return " ".join(words) + " date"
    if name.endswith("_at"):
        words = name[:-3].split("_")
        words[-1] = _STEMS.get(words[-1], words[-1])
        return " ".join(words) + " time"
    return name.replace("_", " ")


def _stem(word: str) -> str:
    """The noun of a past participle before "date": "originated" -> "origination", "visited" -> "visit"."""
    if word.endswith("ated"):
        return word[:-2] + "ion"
    if word.endswith(("ved", "ced", "sed", "zed", "ged")):
        return word[:-1]
    return word[:-2] if word.endswith("ed") else word


@lru_cache(maxsize=4096)
def unit(name: str) -> str | None:
    """The unit a field's name carries, if any: `distance_km` -> "km", `rate_pct` -> "%", `kwh` -> "kWh"."""
    if name == "kwh":  # a field named by its unit alone
        return "kWh"
    measured = next((u for suffix, u in UNITS.items() if name.endswith(suffix)), None)
    if measured and measured in LABELS.get(name, ""):  # "flight hours", "length in minutes" say it already
        return None
    return measured


# units a field's words leave out, the value saying them: "the highest rate" is "5.88%", "the salary" "85,000.00 USD"
UNSAID_UNITS = ("%", "USD", "EUR")


def unit_after(name: str) -> str:
    """What follows a field's value in a request: "delay 204 minutes", "rate 4.5%", "price 16.50 USD"."""
    measured = unit(name)
    return "" if not measured else measured if measured == "%" else f" {measured}"


@lru_cache(maxsize=4096)
def noun(entity: str) -> str:
    """The thing an id names: `customer_id` -> "customer", `from_account` -> "account", `card_id` -> "card"."""
    if entity in ("from_account", "to_account"):
        return "account"
    words = label(entity)
    return words[:-3] if words.endswith(" id") else words


@lru_cache(maxsize=4096)
def plural(word: str) -> str:
    if not word or word.endswith("s") and not word.endswith("ss"):
        return word
    last = word.rsplit(" ", 1)[-1]
    if last in ("aircraft", "equipment", "staff", "sheep", "fish", "series", "species"):
        return word  # "6 aircraft", never "6 aircrafts"
    if last in ("person",):
        return word[: -len(last)] + "people"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def singular(things: str) -> str:
    """"runways" -> "runway", "classes" -> "class", "facilities" -> "facility": a plural label said of one."""
    if things.endswith("ies"):
        return things[:-3] + "y"
    if things.endswith(("sses", "xes", "ches", "shes")):
        return things[:-2]
    return things[:-1] if things.endswith("s") and not things.endswith("ss") else things


def agree(text: str) -> str:
    """Number agreement after filling values: "for 1 nights" -> "for 1 night"."""
    if "1 " not in text and "one " not in text:  # nothing the pattern could match
        return text
    return _ONE.sub(lambda m: f"{m.group(1)} {_COUNTED[m.group(2)]}", text)


def counted(n: int, singular: str) -> str:
    """"1 loan", "3 loans", "no loans"."""
    if n == 0:
        return f"no {plural(singular)}"
    return f"{n} {singular if n == 1 else plural(singular)}"


_YOU_SOUND = ("uni", "use", "usu", "uti", "ure", "uro", "eu", "one", "once")  # "a unit", "a user", "a one-off"


def with_article(words: str) -> str:
    """"an account", "a unit", "a user", "an hour"."""
    low = words.lower()
    vowel = low[:1] in "aeiou" and not low.startswith(_YOU_SOUND) or low.startswith(("hour", "honest", "honor"))
    return ("an " if vowel else "a ") + words


def join_words(items: list[str], conjunction: str = "and") -> str:
    """"A", "A and B", "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


# -- yes/no facts ------------------------------------------------------------------------------------------------
# A boolean field is a question ("Does the club have a pool?"), never a noun ("the has pool of club CLB-4").
# Its description, when it is a yes/no question about "it" or "the <thing>", gives the statement a request asks
# about ("whether club CLB-4 has a pool") and a reply states ("No, club CLB-4 does not have a pool.").

_QUESTION = re.compile(r"^(is|was|has|can|does|did)\s+(it|the\s+[a-z-]+)\s+(.+?)\s*\?$", re.IGNORECASE)
_IRREGULAR = {"have": ("has", "had"), "do": ("does", "did"), "go": ("goes", "went"), "meet": ("meets", "met"),
              "hold": ("holds", "held"), "pay": ("pays", "paid"), "ride": ("rides", "rode"),
              "drop": ("drops", "dropped"), "get": ("gets", "got"), "take": ("takes", "took")}


def _conjugated(verb: str, past: bool) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb][past]
    if past:
        return verb + "d" if verb.endswith("e") else verb[:-1] + "ied" if verb.endswith("y") else verb + "ed"
    if verb.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    return verb[:-1] + "ies" if verb.endswith("y") and verb[-2:-1] not in "aeiou" else verb + "s"


@lru_cache(maxsize=4096)
def yes_no(description: str, field: str) -> tuple[str, str, str]:
    """(subject, positive predicate, negative predicate) of a boolean field.

    "Does the club have a pool?" -> ("the club", "has a pool", "does not have a pool"); a description that is no
    such question falls back to the field's label: `in_stock` -> ("it", "is in stock", "is not in stock").
    """
    m = _QUESTION.match(description.strip())
    if m is None:
        words = label(field)
        return "it", f"is {words}", f"is not {words}"
    aux, subject, rest = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if aux in ("does", "did"):
        verb, _, tail = rest.partition(" ")
        positive = " ".join(filter(None, (_conjugated(verb.lower(), aux == "did"), tail)))
        return subject, positive, f"{aux} not {rest}"
    return subject, f"{aux} {rest}", f"{'cannot' if aux == 'can' else aux + ' not'} {rest}"


def yes_no_predicate(description: str, field: str, value: bool) -> str:
    """What states a yes/no value in any reply, the value the checks look for: "is not active", "has a pool", "did
    not drop the course" (a bare "no" could be any reply's word: "there are no tenants")."""
    _, positive, negative = yes_no(description, field)
    return positive if value else negative


def yes_no_statement(description: str, field: str, thing: str, record: str, value: bool | None) -> str:
    """The statement about `record` ("club CLB-4", whose kind is `thing`): positive for True or None (a request
    asks "whether ..." it holds), negative for False. A question about another subject keeps it and names the
    record first: "for enrollment ENR-31, the student did not drop the course"."""
    subject, positive, negative = yes_no(description, field)
    predicate = negative if value is False else positive
    if subject in ("it", f"the {thing}"):
        return f"{record} {predicate}"
    return f"for {record}, {subject} {predicate}"


def ask_whether(description: str, field: str, thing: str, record: str) -> str:
    """A request for a boolean fact: "tell me whether club CLB-4 has a pool"."""
    statement = yes_no_statement(description, field, thing, record, None)
    if statement.startswith("for "):
        about, _, rest = statement.partition(", ")
        return f"tell me, {about}, whether {rest}"
    return f"tell me whether {statement}"


_YEAR_OR_LABEL = re.compile(r"\byear\b|\bnumber$")


@lru_cache(maxsize=4096)
def plain_number(field: str, description: str = "") -> bool:
    """Is a whole number of this field written without a thousands separator: a year ("built_year", "Year founded",
    "The author's birth year", "The latest year built") or a number that labels a thing ("Room number")? Any other
    is a quantity: "3,836 minutes", "attendance 2,841" (`answers.render_value(..., grouped=True)`)."""
    return any(_YEAR_OR_LABEL.search(said) for said in (field.replace("_", " ").lower(), description.lower().strip()))


# choice fields whose value says what kind of thing a record is: said before its noun, in requests and replies
# ("auto policies", "find all compact cars", "a new suite room"), unless a value is a single letter ("A")
KIND_FIELDS = frozenset({"level", "line", "kind", "type", "room_type", "cuisine", "genre", "grade", "section",
                         "product", "activity", "species", "breed", "category"})
# choice fields said after their noun in words of their own: "listeners on the student plan", "a new support agent on
# the billing team", "outages caused by storm", "tickets with high priority" (never "with plan student", "with team
# billing", "high tickets")
AFTER_NOUN = {"plan": " on the {} plan", "team": " on the {} team", "stage": " at the {} stage",
              "cause": " caused by {}", "specialty": " specializing in {}", "priority": " with {} priority"}


def said_before_noun(field: str, value: str) -> bool:
    """Is this value of a choice field said before its record's noun ("undergraduate courses")? (`KIND_FIELDS`)"""
    return field in KIND_FIELDS and len(value) > 1

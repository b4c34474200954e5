"""Calendar tools. Each is a typed function over the Store; its JSON Schema is generated from this signature."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal, get_args

from typing_extensions import TypedDict

from agentfab.worlds.authoring import Arg, ask, tool

from agentfab.worlds.core import EntityPool, Store, Tables, ToolError
from agentfab.worlds.seeded_faker import last_name, seeded_faker

NAME = "calendar"
DESCRIPTION = "Team calendar: people, teams and meetings, with conflict checks, free slots and rescheduling."

TEAMS = ("design", "platform", "sales", "support", "research")
JOB_TITLES = {  # what people on each team are called (a team's first member leads it: "Sales Lead")
    "design": ("Product Designer", "UX Designer", "Visual Designer", "UX Researcher", "Content Designer"),
    "platform": ("Software Engineer", "Senior Software Engineer", "Site Reliability Engineer", "Data Engineer",
                 "Engineering Manager"),
    "sales": ("Account Executive", "Sales Development Representative", "Account Manager", "Sales Engineer",
              "Sales Operations Analyst"),
    "support": ("Support Specialist", "Customer Success Manager", "Technical Support Engineer",
                "Support Team Lead", "Onboarding Specialist"),
    "research": ("Research Scientist", "Data Scientist", "Research Engineer", "Machine Learning Engineer",
                 "Research Analyst"),
}
WORKDAYS = tuple(
    d.isoformat() for d in (date(2026, 12, 1) + timedelta(days=n) for n in range(31)) if d.weekday() < 5
)
NEAR_MISSES = (  # in the calendar's words, but no tool does it (see Domain.near_misses)
    "set up a weekly recurring meeting for {person_id}", "book a meeting room for {event_id}",
    "send the agenda of {event_id} to everyone invited", "mark {person_id} as out of office tomorrow",
    "remove {person_id} from {event_id}", "move {person_id} to the {team} team",
)
DAY_START, DAY_END = 9 * 60, 18 * 60  # working hours, in minutes after midnight
StartTime = Literal[
    "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30",
    "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30", "17:00", "17:30",
]
SUBJECTS = ("Design review", "Weekly sync", "1:1", "Sprint planning", "Customer call", "Roadmap review",
            "Hiring panel", "Incident retro", "Budget check-in", "Demo prep")

PersonId = Annotated[str, Arg("Person id, e.g. P-101", entity="person_id", pattern=r"^P-\d{3}$")]
EventId = Annotated[str, Arg("Event id, e.g. EV-3001", entity="event_id", pattern=r"^EV-\d{4}$")]
Day = Annotated[str, Arg("Date, YYYY-MM-DD", entity="date", pattern=r"^\d{4}-\d{2}-\d{2}$")]
Start = Annotated[StartTime, Arg("Start time, HH:MM on the half hour")]
Duration = Annotated[int, Arg("Length in minutes", ge=15, le=240, examples=[30, 45, 60, 90])]

ENTITIES = {
    "person_id": EntityPool("people"),
    "email": EntityPool("people", "email"),
    "team": EntityPool("teams"),
    "event_id": EntityPool("events"),
    "date": EntityPool(values=WORKDAYS),
}


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _overlaps(events: list[dict], person_id: str, day: str, start: int, end: int, skip: str = "") -> dict | None:
    """The first confirmed event of `person_id` on `day` overlapping [start, end), ignoring event `skip`."""
    for e in events:
        if (e["id"] != skip and e["status"] == "confirmed" and e["date"] == day and person_id in e["attendees"]
                and _minutes(e["start"]) < end and start < _minutes(e["end"])):
            return e
    return None


def seed_state(seed: int) -> Tables:
    fake = seeded_faker(seed)
    rng = fake.random
    people, teams, events = {}, {}, {}
    n_people = rng.randint(24, 40)
    for i in range(n_people):
        pid = f"P-{101 + i}"
        first, last = fake.first_name(), last_name(fake)
        team = TEAMS[i % len(TEAMS)]
        title = rng.choice(JOB_TITLES[team]) if team in teams else f"{team.capitalize()} Lead"
        people[pid] = {"id": pid, "name": f"{first} {last}", "email": f"{first}.{last}{i}@acme.test".lower(),
                       "team": team, "job_title": title}
        if team not in teams:  # the first member of each team leads it
            teams[team] = {"id": team, "lead_id": pid, "floor": fake.random_int(1, 6)}
    ids = list(people)
    placed: list[dict] = []
    n_events = rng.randint(60, 100)
    for n in range(250):
        if len(placed) >= n_events:
            break
        organizer = ids[n] if n < n_people else fake.random_element(ids)  # everyone gets a turn at organizing first
        guests = [p for p in dict.fromkeys(fake.random_elements(ids, length=fake.random_int(1, 3))) if p != organizer]
        attendees = [organizer, *guests]
        day = fake.random_element(WORKDAYS)
        start = _minutes(fake.random_element(get_args(StartTime)))
        end = min(start + fake.random_element((30, 45, 60, 90)), DAY_END)
        if any(_overlaps(placed, p, day, start, end) for p in attendees):
            continue  # the seeded calendar is consistent: nobody is double-booked
        eid = f"EV-{3001 + len(placed)}"
        placed.append({"id": eid, "subject": fake.random_element(SUBJECTS), "date": day, "start": _hhmm(start),
                       "end": _hhmm(end), "organizer_id": organizer, "attendees": attendees, "status": "confirmed"})
    for i, e in enumerate(placed):
        events[e["id"]] = {**e, "status": "cancelled"} if i % 10 == 9 else e
    return {"people": people, "teams": teams, "events": events}


class Person(TypedDict):
    person_id: Annotated[str, Arg("Person id", entity="person_id")]
    name: str
    email: str
    team: Annotated[str, Arg("Team", entity="team")]
    job_title: str


class Event(TypedDict):
    event_id: Annotated[str, Arg("Event id", entity="event_id")]
    subject: str
    date: Annotated[str, Arg("Date of the event", entity="date")]
    start_time: str
    end_time: str
    organizer_id: Annotated[str, Arg("Who organizes it", entity="person_id")]
    attendee_ids: list[str]
    status: str


def _person(db: Store, person_id: str) -> dict:
    return db.require("people", person_id, "person")


def _event(db: Store, event_id: str) -> dict:
    return db.require("events", event_id, "event")


def _person_view(p: dict) -> Person:
    return {"person_id": p["id"], "name": p["name"], "email": p["email"], "team": p["team"],
            "job_title": p["job_title"]}


def _event_view(e: dict) -> Event:
    return {"event_id": e["id"], "subject": e["subject"], "date": e["date"], "start_time": e["start"],
            "end_time": e["end"], "organizer_id": e["organizer_id"], "attendee_ids": list(e["attendees"]),
            "status": e["status"]}


def _check_free(db: Store, person_ids: list[str], day: str, start: int, end: int, skip: str = "") -> None:
    for pid in person_ids:
        clash = _overlaps(db.where("events", "attendees", pid, "member"), pid, day, start, end, skip)
        if clash is not None:
            raise ToolError("schedule_conflict", f"{pid} is busy {clash['start']}-{clash['end']} on {day} "
                            f"({clash['id']} {clash['subject']!r})")


def _check_slot(day: str, start: int, end: int) -> None:
    if day not in WORKDAYS:
        raise ToolError("bad_value", f"{day} is not a working day in December 2026")
    if end > DAY_END:
        raise ToolError("bad_value", f"the meeting would end at {_hhmm(end)}, after working hours ({_hhmm(DAY_END)})")


@tool(
    phrases=("find the person with email {email}", "look up who has the email address {email}"),
    answer=("person_id", "name"),
)
def find_person_by_email(db: Store, email: Annotated[str, Arg("Work email address", entity="email")]) -> Person:
    """Find a person by work email address."""
    for p in db.where("people", "email", email.strip().lower()):
        return _person_view(p)
    raise ToolError("not_found", f"nobody has the email {email!r}")


@tool(phrases=("look up {person_id}", ask("tell me who {person_id} is and which team they are on", "name", "team")),
      says="{person_id} is {name}, on the {team} team")
def get_person(db: Store, person_id: PersonId) -> Person:
    """Get a person's name, email, team and job title."""
    return _person_view(_person(db, person_id))


class Team(TypedDict):
    team: Annotated[str, Arg("Team", entity="team")]
    lead_id: Annotated[str, Arg("The team lead", entity="person_id")]
    lead_name: str
    member_count: int


@tool(phrases=(ask("find out who leads {team}", "lead_id", "lead_name"), ask("get the lead and head count of {team}", "lead_name", "member_count")),
      says="The {team} team is led by {lead_name} ({lead_id})")
def get_team(db: Store, team: Annotated[str, Arg("Team name", entity="team")]) -> Team:
    """Get a team's lead and head count."""
    t = db.require("teams", team, "team", missing=f"there is no team {team!r}")
    members = len(db.where("people", "team", team))
    return {"team": team, "lead_id": t["lead_id"], "lead_name": _person(db, t["lead_id"])["name"],
            "member_count": members}


@tool(
    phrases=("get the next meeting of {person_id}", "find the first upcoming event on the calendar of {person_id}"),
    answer=("event_id", "subject", "date", "start_time"),
    says="The next meeting of {person_id} is {subject} ({event_id}) on {date} at {start_time}",
)
def get_next_event(db: Store, person_id: PersonId) -> Event:
    """Get the earliest confirmed event a person attends this month."""
    _person(db, person_id)
    mine = [e for e in db.where("events", "attendees", person_id, "member") if e["status"] == "confirmed"]
    if not mine:
        raise ToolError("not_found", f"{person_id} has no upcoming events")
    return _event_view(min(mine, key=lambda e: (e["date"], e["start"], e["id"])))


@tool(
    phrases=("show the details of {event_id}", ask("tell me when {event_id} is and who organizes it", "date", "start_time", "organizer_id")),
    answer=("subject", "date", "start_time", "status"),
    says="{event_id} ({subject}) is on {date} at {start_time}",
)
def get_event(db: Store, event_id: EventId) -> Event:
    """Get an event: subject, date, time, organizer, attendees and status."""
    return _event_view(_event(db, event_id))


class EventBrief(TypedDict):
    event_id: str
    subject: str
    start_time: str
    end_time: str


class DayAgenda(TypedDict):
    person_id: str
    date: str
    events: list[EventBrief]
    count: int


@tool(
    phrases=("list the meetings of {person_id} on {date}", "show what {person_id} has on the calendar on {date}"),
    answer=("count",),
)
def list_events(db: Store, person_id: PersonId, date: Day) -> DayAgenda:
    """List a person's confirmed events on a date, in time order."""
    _person(db, person_id)
    found = sorted((e for e in db.where("events", "attendees", person_id, "member")
                    if e["status"] == "confirmed" and e["date"] == date), key=lambda e: (e["start"], e["id"]))
    briefs: list[EventBrief] = [{"event_id": e["id"], "subject": e["subject"], "start_time": e["start"],
                                 "end_time": e["end"]} for e in found]
    return {"person_id": person_id, "date": date, "events": briefs, "count": len(briefs)}


class Slot(TypedDict):
    person_id: str
    date: str
    start_time: str
    end_time: str


@tool(
    phrases=(
        "find a free {duration_minutes}-minute slot for {person_id} on {date}",
        "find when {person_id} is free for {duration_minutes} minutes on {date}",
    ),
    answer=("start_time", "end_time"),
    says="{person_id} is free from {start_time} to {end_time} on {date}",
)
def find_free_slot(db: Store, person_id: PersonId, date: Day, duration_minutes: Duration) -> Slot:
    """Find the earliest free slot of a given length, starting on the half hour, in a working day (09:00-18:00)."""
    _person(db, person_id)
    if date not in WORKDAYS:
        raise ToolError("bad_value", f"{date} is not a working day in December 2026")
    events = db.where("events", "attendees", person_id, "member")
    for start in range(DAY_START, DAY_END - duration_minutes + 1, 30):  # on the half hour, as events start
        if _overlaps(events, person_id, date, start, start + duration_minutes) is None:
            return {"person_id": person_id, "date": date, "start_time": _hhmm(start),
                    "end_time": _hhmm(start + duration_minutes)}
    raise ToolError("not_found", f"{person_id} has no free {duration_minutes}-minute slot on {date}")


@tool(
    mutates=True,
    phrases=(
        "schedule {subject} organized by {organizer_id} with {attendee_id} on {date} at {start_time} "
        "for {duration_minutes} minutes",
        "book a {duration_minutes}-minute meeting about {subject} for {organizer_id} and {attendee_id} "
        "on {date} at {start_time}",
    ),
    answer=("event_id", "end_time"),
)
def create_event(
    db: Store,
    organizer_id: PersonId,
    attendee_id: PersonId,
    subject: Annotated[str, Arg("What the meeting is about", min_length=1, max_length=80, examples=list(SUBJECTS))],
    date: Day,
    start_time: Start,
    duration_minutes: Duration,
) -> Event:
    """Create a meeting between two people. Refuses when either of them is already busy at that time."""
    if organizer_id == attendee_id:
        raise ToolError("bad_value", "organizer_id and attendee_id must be different people")
    _person(db, organizer_id)
    _person(db, attendee_id)
    start = _minutes(start_time)
    _check_slot(date, start, start + duration_minutes)
    _check_free(db, [organizer_id, attendee_id], date, start, start + duration_minutes)
    eid = f"EV-{3000 + db.serial('events')}"
    event = {"id": eid, "subject": subject, "date": date, "start": start_time, "end": _hhmm(start + duration_minutes),
             "organizer_id": organizer_id, "attendees": [organizer_id, attendee_id], "status": "confirmed"}
    db.put("events", eid, event)
    return _event_view(event)


@tool(
    mutates=True,
    phrases=("move {event_id} to {date} at {start_time}", "reschedule {event_id} to {start_time} on {date}"),
    answer=("event_id", "date", "start_time", "end_time"),
)
def reschedule_event(db: Store, event_id: EventId, date: Day, start_time: Start) -> Event:
    """Move an event to a new date and start time, keeping its length. Refuses if any attendee is busy then."""
    e = _event(db, event_id)
    if e["status"] != "confirmed":
        raise ToolError("invalid_state", f"event {event_id} is {e['status']}")
    start = _minutes(start_time)
    end = start + _minutes(e["end"]) - _minutes(e["start"])
    if (date, start_time) == (e["date"], e["start"]):
        raise ToolError("bad_value", f"event {event_id} is already at {start_time} on {date}")
    _check_slot(date, start, end)
    _check_free(db, e["attendees"], date, start, end, skip=event_id)
    moved = {**e, "date": date, "start": start_time, "end": _hhmm(end)}
    db.put("events", event_id, moved)
    return _event_view(moved)


class Cancelled(TypedDict):
    event_id: Annotated[str, Arg("Event id", entity="event_id")]
    status: str
    notified: int


@tool(mutates=True, phrases=("cancel {event_id}", "call off {event_id} and notify everyone"))
def cancel_event(db: Store, event_id: EventId) -> Cancelled:
    """Cancel an event; every attendee is notified."""
    e = _event(db, event_id)
    if e["status"] == "cancelled":
        raise ToolError("already_done", f"event {event_id} is already cancelled")
    db.put("events", event_id, {**e, "status": "cancelled"})
    return {"event_id": event_id, "status": "cancelled", "notified": len(e["attendees"])}


@tool(
    mutates=True,
    phrases=("add {person_id} to {event_id}", "invite {person_id} to {event_id}"),
    answer=("event_id", "date", "start_time"),
)
def add_attendee(db: Store, event_id: EventId, person_id: PersonId) -> Event:
    """Invite one more person to a confirmed event. Refuses if they already attend or are busy at that time."""
    e = _event(db, event_id)
    _person(db, person_id)
    if e["status"] != "confirmed":
        raise ToolError("invalid_state", f"event {event_id} is {e['status']}")
    if person_id in e["attendees"]:
        raise ToolError("already_done", f"{person_id} already attends event {event_id}")
    _check_free(db, [person_id], e["date"], _minutes(e["start"]), _minutes(e["end"]))
    updated = {**e, "attendees": [*e["attendees"], person_id]}
    db.put("events", event_id, updated)
    return _event_view(updated)

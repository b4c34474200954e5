"""Travel tools. Each is a typed function over the Store; its JSON Schema is generated from this signature."""

from __future__ import annotations

from typing import Annotated

from typing_extensions import TypedDict

from agentfab.worlds.authoring import Arg, Currency, ask, tool

from agentfab.worlds.core import EntityPool, Store, Tables, ToolError
from agentfab.worlds.seeded_faker import last_name, seeded_faker, spelled

NAME = "travel"
DESCRIPTION = "Business travel: companies, travelers, airports, weather, flights and hotels with real bookings."

CITIES = {  # city -> (airport code, airport name)
    "Chicago": ("ORD", "O'Hare International"),
    "Denver": ("DEN", "Denver International"),
    "Seattle": ("SEA", "Seattle-Tacoma International"),
    "Boston": ("BOS", "Logan International"),
    "Austin": ("AUS", "Austin-Bergstrom International"),
    "Miami": ("MIA", "Miami International"),
}
DATES = ("2026-12-19", "2026-12-20", "2026-12-21", "2026-12-22", "2026-12-23")
AIRLINES = ("UA", "AA", "DL", "WN", "AS")
CONDITIONS = ("sunny", "cloudy", "rain", "snow", "windy", "fog")
CLIMATE = {  # city -> the range of a late-December low in Celsius (a forecast of -5 in Miami reads as a mistake)
    "Chicago": (-12, -2), "Denver": (-12, -1), "Seattle": (0, 5),
    "Boston": (-9, 0), "Austin": (1, 9), "Miami": (14, 21),
}
INDUSTRIES = ("software", "logistics", "biotech", "retail", "energy", "media")
NEAR_MISSES = (  # in travel's words, but no tool does it (see Domain.near_misses)
    "pick a window seat on {booking_id}", "add a checked bag to {booking_id}", "upgrade {booking_id} to business class",
    "cancel the hotel stays of {traveler_id}", "change the passenger name on {booking_id}",
)
CANCEL_FEE = 0.2  # share of the fare kept when a booking is cancelled
CURRENCY = "USD"  # what every fare, rate and refund is in

City = Annotated[str, Arg("City name, e.g. Denver", entity="city")]
AirportCode = Annotated[str, Arg("IATA airport code, e.g. DEN", entity="airport_code", pattern=r"^[A-Z]{3}$")]
TravelDate = Annotated[str, Arg("Date, YYYY-MM-DD", entity="date", pattern=r"^\d{4}-\d{2}-\d{2}$")]
FlightId = Annotated[str, Arg("Flight id, e.g. FL-0001", entity="flight_id", pattern=r"^FL-\d{4}$")]
TravelerId = Annotated[str, Arg("Traveler id, e.g. T-201", entity="traveler_id", pattern=r"^T-\d{3}$")]
BookingId = Annotated[str, Arg("Flight booking id, e.g. BK-0001", entity="booking_id", pattern=r"^BK-\d{4}$")]
HotelId = Annotated[str, Arg("Hotel id, e.g. H-301", entity="hotel_id", pattern=r"^H-\d{3}$")]

ENTITIES = {
    "city": EntityPool("cities"),
    "airport_code": EntityPool("cities", "airport_code"),
    "date": EntityPool(values=DATES),
    "company_name": EntityPool("companies", "name"),
    "traveler_id": EntityPool("travelers"),
    "flight_id": EntityPool("flights"),
    "booking_id": EntityPool("bookings"),
    "hotel_id": EntityPool("hotels"),
}


def seed_state(seed: int) -> Tables:
    fake = seeded_faker(seed)
    cities = {c: {"id": c, "airport_code": code, "airport_name": name} for c, (code, name) in CITIES.items()}
    names = list(CITIES)
    weather = {}
    for c in names:
        for d in DATES:
            low = fake.random_int(*CLIMATE[c])
            condition = fake.random_element(CONDITIONS if low <= 0 else CONDITIONS[:3] + CONDITIONS[4:])
            weather[f"{c}/{d}"] = {"city": c, "date": d, "condition": condition,
                                   "low_c": low, "high_c": low + fake.random_int(3, 10)}
    rng = fake.random
    companies, travelers, flights, bookings, hotels = {}, {}, {}, {}, {}
    for i in range(20):
        cid = f"CO-{101 + i}"
        companies[cid] = {"id": cid, "name": spelled(fake.unique.company()), "hq_city": names[i % len(names)],
                          "industry": fake.random_element(INDUSTRIES)}
    n_travelers = rng.randint(24, 40)
    for i in range(n_travelers):
        tid = f"T-{201 + i}"
        first, last = fake.first_name(), last_name(fake)
        travelers[tid] = {"id": tid, "name": f"{first} {last}", "email": f"{first}.{last}{i}@example.com".lower(),
                          "home_city": fake.random_element(names),
                          "loyalty_tier": fake.random_element(("standard", "silver", "gold"))}
    for origin in names:
        for destination in names:
            if origin == destination:
                continue
            for d in DATES:
                for _ in range(fake.random_int(1, 2)):
                    fid = f"FL-{len(flights) + 1:04d}"
                    flights[fid] = {
                        "id": fid, "flight_number": f"{fake.random_element(AIRLINES)} {fake.random_int(100, 2999)}",
                        "origin": CITIES[origin][0], "destination": CITIES[destination][0], "date": d,
                        "departure": f"{fake.random_int(6, 21):02d}:{fake.random_element(('00', '15', '30', '45'))}",
                        "price": round(fake.pyfloat(min_value=89, max_value=640, right_digits=2), 2),
                        "seats_left": 0 if len(flights) % 13 == 6 else fake.random_int(1, 9),  # some sold out
                    }
    for i in range(rng.randint(18, 30)):
        hid = f"H-{301 + i}"
        hotels[hid] = {"id": hid, "name": f"{last_name(fake)} {fake.random_element(('Inn', 'Hotel', 'Suites'))}",
                       "city": names[i % len(names)], "stars": fake.random_int(2, 5),
                       "price_per_night": round(fake.pyfloat(min_value=70, max_value=420, right_digits=2), 2),
                       "rooms_left": 0 if i % 7 == 3 else fake.random_int(1, 12)}
    flight_ids = list(flights)
    for i in range(rng.randint(30, 50)):
        bid = f"BK-{i + 1:04d}"
        flight = flights[fake.random_element(flight_ids)]
        bookings[bid] = {"id": bid, "flight_id": flight["id"], "traveler_id": f"T-{201 + i % n_travelers}",
                         "price": flight["price"], "status": "cancelled" if i % 8 == 5 else "confirmed"}
    return {"cities": cities, "weather": weather, "companies": companies, "travelers": travelers,
            "flights": flights, "hotels": hotels, "bookings": bookings, "stays": {}}


def _city(db: Store, city: str) -> dict:
    for c in db.where("cities", "id", city.strip().lower(), "lower"):
        return c
    raise ToolError("not_found", f"no airport serves {city!r}; served cities: {', '.join(sorted(db.keys('cities')))}")


def _served(db: Store, airport_code: str) -> str:
    """The city an airport serves (the last city listed with that code)."""
    return db.where("cities", "airport_code", airport_code)[-1]["id"]


class Company(TypedDict):
    company_id: str
    name: str
    hq_city: Annotated[str, Arg("City of the headquarters", entity="city")]
    industry: str


@tool(
    phrases=(ask("find the company called {company_name}", "company_id", "hq_city"), ask("tell me where {company_name} has its headquarters", "hq_city")),
    answer=("hq_city",),
)
def find_company(db: Store, company_name: Annotated[str, Arg("Company name", entity="company_name")]) -> Company:
    """Find a company by name: its id, headquarters city and industry."""
    for c in db.where("companies", "name", company_name.strip().lower(), "lower"):
        return {"company_id": c["id"], "name": c["name"], "hq_city": c["hq_city"], "industry": c["industry"]}
    raise ToolError("not_found", f"no company is named {company_name!r}")


class Traveler(TypedDict):
    traveler_id: Annotated[str, Arg("Traveler id", entity="traveler_id")]
    name: str
    email: str
    home_city: Annotated[str, Arg("Home city", entity="city")]
    loyalty_tier: str


@tool(
    phrases=("look up {traveler_id}", "get the profile and home city of {traveler_id}"),
    answer=("name", "home_city", "loyalty_tier"),
)
def get_traveler(db: Store, traveler_id: TravelerId) -> Traveler:
    """Get a traveler's profile: name, email, home city and loyalty tier."""
    t = db.require("travelers", traveler_id, "traveler")
    return {"traveler_id": t["id"], "name": t["name"], "email": t["email"], "home_city": t["home_city"],
            "loyalty_tier": t["loyalty_tier"]}


class Weather(TypedDict):
    city: str
    date: str
    condition: str
    high_c: int
    low_c: int


@tool(
    phrases=("get the weather forecast for {city} on {date}", ask("tell me what the weather will be in {city} on {date}", "condition", "high_c", "low_c")),
    answer=("condition", "high_c", "low_c"),
)
def get_weather(db: Store, city: City, date: TravelDate) -> Weather:
    """Get the weather forecast (condition, high and low in Celsius) for a city on a date."""
    c = _city(db, city)
    w = db.require("weather", f"{c['id']}/{date}", "forecast",
                   missing=f"no forecast for {c['id']} on {date}; forecasts cover {DATES[0]}..{DATES[-1]}")
    return {"city": c["id"], "date": date, "condition": w["condition"], "high_c": w["high_c"], "low_c": w["low_c"]}


class Airport(TypedDict):
    airport_code: Annotated[str, Arg("IATA code", entity="airport_code")]
    airport_name: str
    city: Annotated[str, Arg("City the airport serves", entity="city")]


@tool(phrases=(ask("find the airport of {city}", "airport_code", "airport_name"), "get the airport code for {city}"), answer=("airport_code",))
def get_airport(db: Store, city: City) -> Airport:
    """Get the main airport serving a city."""
    c = _city(db, city)
    return {"airport_code": c["airport_code"], "airport_name": c["airport_name"], "city": c["id"]}


class FlightBrief(TypedDict):
    flight_id: str
    flight_number: str
    departure: str
    price: float
    seats_left: int


class FlightSearch(TypedDict):
    origin: str
    destination: str
    date: str
    flights: list[FlightBrief]
    count: int
    cheapest_flight_id: Annotated[str, Arg("Cheapest flight with free seats", entity="flight_id")]
    cheapest_price: float
    currency: Currency


@tool(
    phrases=(
        ask("search flights from {origin} to {destination} on {date}", "count", "cheapest_flight_id", "cheapest_price"),
        "find the cheapest flight from {origin} to {destination} on {date}",
    ),
    answer=("cheapest_flight_id", "cheapest_price"),
)
def search_flights(db: Store, origin: AirportCode, destination: AirportCode, date: TravelDate) -> FlightSearch:
    """Search the flights between two airports on a date; also names the cheapest one with free seats."""
    if origin == destination:
        raise ToolError("bad_value", "origin and destination must be different airports")
    route = (origin, destination, date)
    found = sorted(db.where("flights", ("origin", "destination", "date"), route),
                   key=lambda f: (f["departure"], f["id"]))
    open_seats = sorted((f for f in found if f["seats_left"] > 0), key=lambda f: (f["price"], f["id"]))
    if not open_seats:
        raise ToolError("not_found", f"no flight from {origin} to {destination} on {date} has free seats")
    briefs: list[FlightBrief] = [{"flight_id": f["id"], "flight_number": f["flight_number"],
                                  "departure": f["departure"], "price": f["price"], "seats_left": f["seats_left"]}
                                 for f in found]
    return {"origin": origin, "destination": destination, "date": date, "flights": briefs, "count": len(briefs),
            "cheapest_flight_id": open_seats[0]["id"], "cheapest_price": open_seats[0]["price"], "currency": CURRENCY}


class Flight(TypedDict):
    flight_id: Annotated[str, Arg("Flight id", entity="flight_id")]
    flight_number: str
    origin: Annotated[str, Arg("Departure airport", entity="airport_code")]
    destination: Annotated[str, Arg("Arrival airport", entity="airport_code")]
    origin_city: Annotated[str, Arg("City the flight leaves from", entity="city")]
    destination_city: Annotated[str, Arg("City the flight goes to", entity="city")]
    date: Annotated[str, Arg("Date of the flight", entity="date")]
    departure: str
    price: float
    currency: Currency
    seats_left: int


@tool(
    phrases=("show the details of {flight_id}", ask("tell me where and when {flight_id} goes", "origin_city", "destination_city", "date", "departure")),
    answer=("flight_number", "origin", "destination", "date", "departure"),
)
def get_flight(db: Store, flight_id: FlightId) -> Flight:
    """Get a flight: number, route, date, departure time, fare and free seats."""
    f = db.require("flights", flight_id, "flight")
    return {"flight_id": f["id"], "flight_number": f["flight_number"], "origin": f["origin"],
            "destination": f["destination"], "origin_city": _served(db, f["origin"]),
            "destination_city": _served(db, f["destination"]), "date": f["date"], "departure": f["departure"],
            "price": f["price"], "currency": CURRENCY, "seats_left": f["seats_left"]}


class Booking(TypedDict):
    booking_id: Annotated[str, Arg("Booking id", entity="booking_id")]
    flight_id: Annotated[str, Arg("Booked flight", entity="flight_id")]
    traveler_id: Annotated[str, Arg("Who travels", entity="traveler_id")]
    price: float
    currency: Currency
    status: str


def _booking_view(b: dict) -> Booking:
    return {"booking_id": b["id"], "flight_id": b["flight_id"], "traveler_id": b["traveler_id"], "price": b["price"],
            "currency": CURRENCY, "status": b["status"]}


@tool(
    mutates=True,
    phrases=("book {flight_id} for {traveler_id}", "reserve a seat on {flight_id} for {traveler_id}"),
    answer=("booking_id", "price"),
)
def book_flight(db: Store, flight_id: FlightId, traveler_id: TravelerId) -> Booking:
    """Book a seat on a flight for a traveler. Fails when the flight is full or the traveler already holds a seat."""
    f = db.require("flights", flight_id, "flight")
    db.require("travelers", traveler_id, "traveler")
    for b in db.where("bookings", ("flight_id", "traveler_id"), (flight_id, traveler_id)):
        if b["status"] == "confirmed":
            raise ToolError("already_done", f"{traveler_id} already holds booking {b['id']} on {flight_id}")
    if f["seats_left"] <= 0:
        raise ToolError("sold_out", f"flight {flight_id} is sold out")
    bid = f"BK-{db.serial('bookings'):04d}"
    booking = {"id": bid, "flight_id": flight_id, "traveler_id": traveler_id, "price": f["price"],
               "status": "confirmed"}
    db.put("flights", flight_id, {**f, "seats_left": f["seats_left"] - 1})
    db.put("bookings", bid, booking)
    return _booking_view(booking)


@tool(
    phrases=("look up {booking_id}", ask("check the status of {booking_id}", "status")),
    answer=("flight_id", "status"),
)
def get_booking(db: Store, booking_id: BookingId) -> Booking:
    """Get a flight booking: the flight, the traveler, the fare paid and its status."""
    return _booking_view(db.require("bookings", booking_id, "booking"))


@tool(
    phrases=("get the latest flight booking of {traveler_id}", "show the most recent booking of {traveler_id}"),
    answer=("booking_id", "flight_id", "status"),
)
def get_latest_booking(db: Store, traveler_id: TravelerId) -> Booking:
    """Get the most recent flight booking a traveler made, whatever its status."""
    db.require("travelers", traveler_id, "traveler")
    mine = db.where("bookings", "traveler_id", traveler_id)
    if not mine:
        raise ToolError("not_found", f"traveler {traveler_id} has no bookings")
    return _booking_view(max(mine, key=lambda b: b["id"]))


class CancelledBooking(TypedDict):
    booking_id: Annotated[str, Arg("Booking id", entity="booking_id")]
    status: str
    refund_amount: float
    currency: Currency


@tool(mutates=True, phrases=("cancel {booking_id}", "call off {booking_id} and refund it"))
def cancel_booking(db: Store, booking_id: BookingId) -> CancelledBooking:
    """Cancel a flight booking: the seat is released and the fare refunded minus a 20% fee."""
    b = db.require("bookings", booking_id, "booking")
    if b["status"] != "confirmed":
        raise ToolError("already_done", f"booking {booking_id} is already {b['status']}")
    f = db.require("flights", b["flight_id"], "flight")
    db.put("flights", f["id"], {**f, "seats_left": f["seats_left"] + 1})
    db.put("bookings", booking_id, {**b, "status": "cancelled"})
    return {"booking_id": booking_id, "status": "cancelled", "refund_amount": round(b["price"] * (1 - CANCEL_FEE), 2),
            "currency": CURRENCY}


class HotelBrief(TypedDict):
    hotel_id: str
    name: str
    stars: int
    price_per_night: float


class HotelSearch(TypedDict):
    city: str
    hotels: list[HotelBrief]
    count: int
    cheapest_hotel_id: Annotated[str, Arg("Cheapest hotel with free rooms", entity="hotel_id")]
    cheapest_price: float
    currency: Currency


@tool(
    phrases=(ask("search hotels with free rooms in {city}", "count", "cheapest_hotel_id", "cheapest_price"), "find the cheapest available hotel in {city}"),
    answer=("cheapest_hotel_id", "cheapest_price"),
)
def search_hotels(db: Store, city: City) -> HotelSearch:
    """List the hotels with free rooms in a city, cheapest first."""
    c = _city(db, city)
    found = sorted((h for h in db.where("hotels", "city", c["id"]) if h["rooms_left"] > 0),
                   key=lambda h: (h["price_per_night"], h["id"]))
    if not found:
        raise ToolError("not_found", f"no hotel in {c['id']} has free rooms")
    briefs: list[HotelBrief] = [{"hotel_id": h["id"], "name": h["name"], "stars": h["stars"],
                                 "price_per_night": h["price_per_night"]} for h in found]
    return {"city": c["id"], "hotels": briefs, "count": len(briefs), "cheapest_hotel_id": found[0]["id"],
            "cheapest_price": found[0]["price_per_night"], "currency": CURRENCY}


class Hotel(TypedDict):
    hotel_id: Annotated[str, Arg("Hotel id", entity="hotel_id")]
    name: str
    city: Annotated[str, Arg("City of the hotel", entity="city")]
    stars: int
    price_per_night: float
    currency: Currency
    rooms_left: int


@tool(
    phrases=("show the details of {hotel_id}", ask("tell me the name, stars and nightly rate of {hotel_id}", "name", "stars", "price_per_night")),
    answer=("name", "stars", "price_per_night", "rooms_left"),
)
def get_hotel(db: Store, hotel_id: HotelId) -> Hotel:
    """Get a hotel: name, city, star rating, nightly rate and free rooms."""
    h = db.require("hotels", hotel_id, "hotel")
    return {"hotel_id": h["id"], "name": h["name"], "city": h["city"], "stars": h["stars"],
            "price_per_night": h["price_per_night"], "currency": CURRENCY,
            "rooms_left": h["rooms_left"]}


class Stay(TypedDict):
    stay_id: str
    hotel_id: Annotated[str, Arg("Hotel id", entity="hotel_id")]
    traveler_id: str
    check_in: str
    nights: int
    total_price: float
    currency: Currency


@tool(
    mutates=True,
    phrases=(
        "book a room at {hotel_id} for {traveler_id} from {check_in} for {nights} nights",
        "reserve a room at {hotel_id} for {traveler_id}, checking in {check_in}, {nights} nights",
    ),
    answer=("stay_id", "total_price"),
)
def book_hotel(
    db: Store,
    hotel_id: HotelId,
    traveler_id: TravelerId,
    check_in: TravelDate,
    nights: Annotated[int, Arg("Number of nights", ge=1, le=14)],
) -> Stay:
    """Reserve a hotel room for a traveler. Fails when the hotel has no free rooms."""
    h = db.require("hotels", hotel_id, "hotel")
    db.require("travelers", traveler_id, "traveler")
    if h["rooms_left"] <= 0:
        raise ToolError("sold_out", f"hotel {hotel_id} has no free rooms")
    sid = f"ST-{db.serial('stays'):04d}"
    stay: Stay = {"stay_id": sid, "hotel_id": hotel_id, "traveler_id": traveler_id, "check_in": check_in,
                  "nights": nights, "total_price": round(h["price_per_night"] * nights, 2), "currency": CURRENCY}
    db.put("hotels", hotel_id, {**h, "rooms_left": h["rooms_left"] - 1})
    db.put("stays", sid, {"id": sid, **stay})
    return stay

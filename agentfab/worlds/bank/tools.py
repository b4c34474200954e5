"""Bank tools. Each is a typed function over the Store; its JSON Schema is generated from this signature."""

from __future__ import annotations

from typing import Annotated, Literal

from typing_extensions import TypedDict

from agentfab.worlds.authoring import Arg, Currency, ask, tool

from agentfab.worlds.core import EntityPool, Store, Tables, ToolError
from agentfab.worlds.plausible import city
from agentfab.worlds.seeded_faker import plain_name, seeded_faker

NAME = "bank"
DESCRIPTION = "Retail banking: customers, accounts, balances, transfers and cards."

AccountId = Annotated[str, Arg("Account id, e.g. ACC-1001", entity="account_id", pattern=r"^ACC-\d{4}$")]
CustomerId = Annotated[str, Arg("Customer id, e.g. CUS-101", entity="customer_id", pattern=r"^CUS-\d{3}$")]
Amount = Annotated[float, Arg("Amount in the account's currency", gt=0, le=5000, examples=[25.0, 120.0, 480.5])]

ENTITIES = {
    "account_id": EntityPool("accounts"),
    "customer_id": EntityPool("customers"),
    "customer_name": EntityPool("customers", "name"),
    "city": EntityPool("customers", "city"),
    "card_id": EntityPool("cards"),
}

DAILY_LIMIT = 5000.0
NEAR_MISSES = (  # in the bank's words, but no tool does it (see Domain.near_misses)
    "unblock card {card_id}", "close account {account_id} for good", "reverse the last transfer out of {account_id}",
    "raise the daily transfer limit on {account_id}", "order a replacement for card {card_id}",
    "change the home city on file for customer {customer_id}",
)


def seed_state(seed: int) -> Tables:
    """A bank of 30-50 customers; the seed varies how many, and who holds what."""
    fake = seeded_faker(seed)
    rng = fake.random
    customers, accounts = {}, {}
    n_customers = rng.randint(30, 50)
    for i in range(n_customers):
        cid = f"CUS-{101 + i}"
        customers[cid] = {"id": cid, "name": plain_name(fake), "city": city(rng),
                          "tier": fake.random_element(["basic", "gold", "private"])}
    for i in range(2 * n_customers):
        aid = f"ACC-{1001 + i}"
        low = rng.random() < 0.15  # some accounts run low, so a transfer can really bounce
        accounts[aid] = {
            "id": aid,
            "owner_id": f"CUS-{101 + i % n_customers}",
            "type": fake.random_element(["checking", "savings"]),
            "currency": "USD",
            "balance": round(rng.uniform(0, 150) if low else rng.uniform(200, 20000), 2),
            "status": "frozen" if i % 13 == 5 else "active",
        }
    cards = {}
    n_accounts = len(accounts)
    for i in range(rng.randint(40, 70)):
        cid = f"CRD-{5001 + i}"
        cards[cid] = {"id": cid, "account_id": f"ACC-{1001 + (i * 7) % n_accounts}",
                      "network": fake.random_element(["visa", "mastercard"]),
                      "status": "blocked" if i % 11 == 4 else "active"}
    branches = {}
    for c in customers.values():
        if c["city"] not in branches:
            n = len(branches) + 1
            branches[c["city"]] = {"id": f"BR-{n:02d}", "city": c["city"], "manager": plain_name(fake), "phone": fake.numerify("555-####")}
    return {"customers": customers, "accounts": accounts, "transfers": {}, "cards": cards, "branches": branches}


class Customer(TypedDict):
    customer_id: Annotated[str, Arg("Customer id", entity="customer_id")]
    name: Annotated[str, Arg("Full name", entity="customer_name")]
    city: Annotated[str, Arg("City of residence", entity="city")]
    tier: str


class Balance(TypedDict):
    account_id: Annotated[str, Arg("Account id", entity="account_id")]
    balance: float
    currency: str


class Account(TypedDict):
    account_id: Annotated[str, Arg("Account id", entity="account_id")]
    owner_id: Annotated[str, Arg("Owner's customer id", entity="customer_id")]
    type: str
    status: str


class Transfer(TypedDict):
    transfer_id: Annotated[str, Arg("Transfer id", entity="transfer_id")]
    from_account: str
    to_account: str
    amount: float
    from_balance: float
    currency: Currency


def _account(db: Store, account_id: str) -> dict:
    return db.require("accounts", account_id, "account")


def _customer(db: Store, customer_id: str) -> dict:
    return db.require("customers", customer_id, "customer")


@tool(phrases=("look up customer {customer_id}", "get the profile of customer {customer_id}"))
def get_customer(db: Store, customer_id: CustomerId) -> Customer:
    """Get a customer's profile: name, city and tier."""
    c = _customer(db, customer_id)
    return {"customer_id": c["id"], "name": c["name"], "city": c["city"], "tier": c["tier"]}


@tool(phrases=("find the customer named {name}", "look up the customer called {name}"), answer=("customer_id",))
def find_customer(db: Store, name: Annotated[str, Arg("Exact full name", entity="customer_name")]) -> Customer:
    """Find a customer by exact full name."""
    for c in db.where("customers", "name", name):
        return {"customer_id": c["id"], "name": c["name"], "city": c["city"], "tier": c["tier"]}
    raise ToolError("not_found", f"no customer is named {name!r}")


@tool(phrases=("check the balance of account {account_id}", ask("tell me how much money is in {account_id}", "balance", "currency")))
def get_balance(db: Store, account_id: AccountId) -> Balance:
    """Get the current balance of an account."""
    a = _account(db, account_id)
    return {"account_id": a["id"], "balance": a["balance"], "currency": a["currency"]}


@tool(phrases=("show the details of account {account_id}", ask("get the owner and status of account {account_id}", "owner_id", "status")))
def get_account(db: Store, account_id: AccountId) -> Account:
    """Get an account's owner, type and status."""
    a = _account(db, account_id)
    return {"account_id": a["id"], "owner_id": a["owner_id"], "type": a["type"], "status": a["status"]}


class AccountList(TypedDict):
    customer_id: str
    account_ids: list[str]
    count: int


@tool(phrases=(ask("list the accounts of customer {customer_id}", "account_ids", "count"), ask("find out which accounts customer {customer_id} holds", "account_ids")))
def list_accounts(db: Store, customer_id: CustomerId) -> AccountList:
    """List the ids of all accounts a customer owns."""
    _customer(db, customer_id)
    ids = sorted(a["id"] for a in db.where("accounts", "owner_id", customer_id))
    return {"customer_id": customer_id, "account_ids": ids, "count": len(ids)}


@tool(
    mutates=True,
    phrases=(
        "transfer {amount} USD from {from_account} to {to_account}",
        "send {amount} USD from account {from_account} to account {to_account}",
    ),
    answer=("transfer_id", "from_balance"),
)
def transfer(db: Store, from_account: AccountId, to_account: AccountId, amount: Amount) -> Transfer:
    """Move money between two accounts. Fails on frozen accounts, insufficient funds or the daily limit."""
    if from_account == to_account:
        raise ToolError("bad_value", f"the money would go from account {from_account} to itself")
    src, dst = _account(db, from_account), _account(db, to_account)
    for a in (src, dst):
        if a["status"] != "active":
            raise ToolError("account_frozen", f"account {a['id']} is {a['status']}")
    sent_today = sum(t["amount"] for t in db.where("transfers", "from_account", from_account))
    if sent_today + amount > DAILY_LIMIT:
        raise ToolError("limit_exceeded", f"account {from_account} has already sent {sent_today:,.2f} {src['currency']} "
                        f"today, and this would take it over its daily limit of {DAILY_LIMIT:,.2f} {src['currency']}")
    if src["balance"] < amount:  # a sentence the assistant can pass on: "because account ACC-1027 holds only ..."
        raise ToolError("insufficient_funds", f"account {from_account} holds only {src['balance']:,.2f} {src['currency']}, "
                        f"less than the {amount:,.2f} {src['currency']} to send")
    new_src = round(src["balance"] - amount, 2)
    db.put("accounts", src["id"], {**src, "balance": new_src})
    db.put("accounts", dst["id"], {**dst, "balance": round(dst["balance"] + amount, 2)})
    tid = f"TRF-{db.serial('transfers'):05d}"
    db.put("transfers", tid, {"id": tid, "from_account": from_account, "to_account": to_account, "amount": amount})
    return {"transfer_id": tid, "from_account": from_account, "to_account": to_account, "amount": amount, "from_balance": new_src,
            "currency": src["currency"]}


class StatusChange(TypedDict):
    account_id: Annotated[str, Arg("Account id", entity="account_id")]
    status: str


@tool(mutates=True, phrases=("freeze account {account_id}", "put a freeze on account {account_id}"))
def freeze_account(db: Store, account_id: AccountId) -> StatusChange:
    """Freeze an active account so no money can move in or out."""
    a = _account(db, account_id)
    if a["status"] == "frozen":
        raise ToolError("already_done", f"account {account_id} is already frozen")
    db.put("accounts", account_id, {**a, "status": "frozen"})
    return {"account_id": account_id, "status": "frozen"}


@tool(mutates=True, phrases=("unfreeze account {account_id}", "lift the freeze on account {account_id}"))
def unfreeze_account(db: Store, account_id: AccountId) -> StatusChange:
    """Unfreeze a frozen account."""
    a = _account(db, account_id)
    if a["status"] != "frozen":
        raise ToolError("invalid_state", f"account {account_id} is not frozen")
    db.put("accounts", account_id, {**a, "status": "active"})
    return {"account_id": account_id, "status": "active"}


class Opened(TypedDict):
    account_id: Annotated[str, Arg("The new account's id", entity="account_id")]
    owner_id: str
    type: str
    balance: float
    currency: Currency


@tool(
    mutates=True,
    phrases=("open a {type} account for customer {customer_id}", "create a new {type} account for {customer_id}"),
)
def open_account(
    db: Store,
    customer_id: CustomerId,
    type: Annotated[Literal["checking", "savings"], Arg("Kind of account")],
) -> Opened:
    """Open a new, empty account for a customer."""
    _customer(db, customer_id)
    owned = len(db.where("accounts", "owner_id", customer_id))
    if owned >= 4:
        raise ToolError("limit_exceeded", f"customer {customer_id} already holds the maximum of 4 accounts")
    aid = f"ACC-{1000 + db.serial('accounts')}"
    db.put("accounts", aid, {"id": aid, "owner_id": customer_id, "type": type, "currency": "USD", "balance": 0.0, "status": "active"})
    return {"account_id": aid, "owner_id": customer_id, "type": type, "balance": 0.0, "currency": "USD"}


class Card(TypedDict):
    card_id: Annotated[str, Arg("Card id", entity="card_id")]
    account_id: Annotated[str, Arg("The account the card draws on", entity="account_id")]
    network: str
    status: str


CardId = Annotated[str, Arg("Card id, e.g. CRD-5001", entity="card_id", pattern=r"^CRD-\d{4}$")]


@tool(phrases=("look up card {card_id}", ask("find out which account card {card_id} is linked to", "account_id")))
def get_card(db: Store, card_id: CardId) -> Card:
    """Get a payment card: its account, network and status."""
    c = db.require("cards", card_id, "card")
    return {"card_id": c["id"], "account_id": c["account_id"], "network": c["network"], "status": c["status"]}


@tool(mutates=True, phrases=("block card {card_id}", "stop card {card_id} from being used"))
def block_card(db: Store, card_id: CardId) -> Card:
    """Block a card, e.g. when it is lost or stolen."""
    c = db.require("cards", card_id, "card")
    if c["status"] == "blocked":
        raise ToolError("already_done", f"card {card_id} is already blocked")
    db.put("cards", card_id, {**c, "status": "blocked"})
    return {"card_id": card_id, "account_id": c["account_id"], "network": c["network"], "status": "blocked"}


class Branch(TypedDict):
    branch_id: str
    city: str
    manager: str
    phone: str


@tool(phrases=("find the bank branch in {city}", ask("give me the branch manager and phone for {city}", "manager", "phone")))
def get_branch(db: Store, city: Annotated[str, Arg("City name", entity="city")]) -> Branch:
    """Get the bank branch serving a city: its manager and phone number."""
    b = db.require("branches", city, "branch", missing=f"there is no branch in {city}")
    return {"branch_id": b["id"], "city": b["city"], "manager": b["manager"], "phone": b["phone"]}

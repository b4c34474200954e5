"""Shop tools. Each is a typed function over the Store; its JSON Schema is generated from this signature."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal, get_args

from typing_extensions import TypedDict

from agentfab.worlds.authoring import Arg, Currency, ask, tool

from agentfab.worlds.core import EntityPool, Store, Tables, ToolError
from agentfab.worlds.plausible import city
from agentfab.worlds.seeded_faker import last_name, seeded_faker

NAME = "shop"
DESCRIPTION = "Online shop: customers, products, stock, orders, cancellations and refunds."

CategoryName = Literal["electronics", "kitchen", "books", "toys", "outdoor", "clothing"]
CATEGORIES: tuple[str, ...] = get_args(CategoryName)
NOUNS = {
    "electronics": ("Headphones", "Charger", "Speaker", "Webcam", "Keyboard", "Monitor"),
    "kitchen": ("Kettle", "Blender", "Skillet", "Knife Set", "Toaster", "Coffee Grinder"),
    "books": ("Cookbook", "Atlas", "Novel", "Field Guide", "Poetry Collection", "Biography"),
    "toys": ("Puzzle", "Robot Kit", "Board Game", "Kite", "Building Blocks", "Yo-Yo"),
    "outdoor": ("Tent", "Lantern", "Backpack", "Hammock", "Water Filter", "Camp Stove"),
    "clothing": ("Rain Jacket", "Wool Socks", "Fleece", "Beanie", "Hiking Boots", "Scarf"),
}
ADJECTIVES = ("Compact", "Classic", "Deluxe", "Eco", "Pro", "Travel", "Everyday", "Premium", "Mini", "Sturdy")
TODAY = "2026-12-20"  # the shop's fixed "today": new orders are placed on it, seeded ones before it
MAX_QUANTITY = 5
CURRENCY = "USD"  # what every price, total and refund of the shop is in
NEAR_MISSES = (  # in the shop's words, but no tool does it (see Domain.near_misses)
    "change the delivery address of {order_id}", "apply a discount code to {order_id}",
    "exchange {order_id} for a different size", "post a five-star review of {product_id}",
    "update the email address of {customer_id}", "give me the tracking number of {order_id}",
)
REFUND_DAYS = 45  # a delivered order can be refunded within this many days of its order date

CustomerId = Annotated[str, Arg("Customer id, e.g. C-1001", entity="customer_id", pattern=r"^C-\d{4}$")]
ProductId = Annotated[str, Arg("Product id, e.g. P-2001", entity="product_id", pattern=r"^P-\d{4}$")]
OrderId = Annotated[str, Arg("Order id, e.g. ORD-50001", entity="order_id", pattern=r"^ORD-\d{5}$")]
RefundId = Annotated[str, Arg("Refund id, e.g. RF-0001", entity="refund_id", pattern=r"^RF-\d{4}$")]
Category = Annotated[CategoryName, Arg("Product category", entity="category")]
RefundReason = Annotated[
    Literal["damaged", "wrong_item", "not_as_described", "changed_mind"], Arg("Why the customer wants the money back")
]

ENTITIES = {
    "customer_id": EntityPool("customers"),
    "customer_email": EntityPool("customers", "email"),
    "product_id": EntityPool("products"),
    "product_name": EntityPool("products", "name"),
    "order_id": EntityPool("orders"),
    "refund_id": EntityPool("refunds"),
    "category": EntityPool(values=CATEGORIES),
}


def seed_state(seed: int) -> Tables:
    fake = seeded_faker(seed)
    rng = fake.random
    customers, products, orders, refunds = {}, {}, {}, {}
    emails: set[str] = set()
    n_customers, n_products = rng.randint(24, 40), rng.randint(36, 60)
    for i in range(n_customers):
        cid = f"C-{1001 + i}"
        first, last = fake.first_name(), last_name(fake)
        email = f"{first}.{last}@{fake.free_email_domain()}".lower()
        if email in emails:
            email = email.replace("@", f"{i}@")
        emails.add(email)
        status = "suspended" if i % 11 == 4 else "active"
        customers[cid] = {"id": cid, "name": f"{first} {last}", "email": email, "city": city(rng), "status": status}
    names: set[str] = set()
    for i in range(n_products):
        pid = f"P-{2001 + i}"
        category = CATEGORIES[i % len(CATEGORIES)]
        name = f"{fake.random_element(ADJECTIVES)} {fake.random_element(NOUNS[category])}"
        while name in names:  # names are unique so find_product by exact name is unambiguous
            name = f"{fake.random_element(ADJECTIVES)} {fake.random_element(NOUNS[category])} {fake.random_int(2, 9)}"
        names.add(name)
        stock = 0 if i % 9 == 7 else fake.random_int(3, 60)
        price = round(fake.pyfloat(min_value=4, max_value=400, right_digits=2), 2)
        products[pid] = {"id": pid, "name": name, "category": category, "price": price, "stock": stock}
    start = date(2026, 11, 1)
    for i in range(rng.randint(2 * n_customers, 3 * n_customers)):
        oid = f"ORD-{50001 + i}"
        product = products[f"P-{2001 + fake.random_int(0, n_products - 1)}"]
        quantity = fake.random_int(1, 3)
        roll = fake.random_int(0, 99)
        status = "processing" if roll < 45 else "shipped" if roll < 52 else "delivered"
        placed = start + timedelta(days=fake.random_int(0, 48))
        orders[oid] = {
            "id": oid,
            "customer_id": f"C-{1001 + i % n_customers}",  # every customer has at least one order
            "product_id": product["id"],
            "quantity": quantity,
            "total": round(product["price"] * quantity, 2),
            "status": status,
            "placed_on": placed.isoformat(),
        }
    delivered = [o for o in orders.values() if o["status"] == "delivered"]
    for n, order in enumerate(delivered[::5][:6]):
        rid = f"RF-{n + 1:04d}"
        refunds[rid] = {"id": rid, "order_id": order["id"], "amount": order["total"], "reason": "damaged",
                        "status": "issued"}
        orders[order["id"]] = {**order, "status": "refunded"}
    return {"customers": customers, "products": products, "orders": orders, "refunds": refunds}


class Customer(TypedDict):
    customer_id: Annotated[str, Arg("Customer id", entity="customer_id")]
    name: str
    email: str
    city: str
    status: str


class Product(TypedDict):
    product_id: Annotated[str, Arg("Product id", entity="product_id")]
    name: str
    category: Annotated[str, Arg("Product category", entity="category")]
    price: float
    currency: Currency
    stock: int


class Order(TypedDict):
    order_id: Annotated[str, Arg("Order id", entity="order_id")]
    customer_id: Annotated[str, Arg("Customer who placed the order", entity="customer_id")]
    product_id: Annotated[str, Arg("Product ordered", entity="product_id")]
    quantity: int
    total: float
    currency: Currency
    status: str
    placed_on: str


def _customer(db: Store, customer_id: str) -> dict:
    return db.require("customers", customer_id, "customer")


def _product(db: Store, product_id: str) -> dict:
    return db.require("products", product_id, "product")


def _order(db: Store, order_id: str) -> dict:
    return db.require("orders", order_id, "order")


def _customer_view(c: dict) -> Customer:
    return {"customer_id": c["id"], "name": c["name"], "email": c["email"], "city": c["city"], "status": c["status"]}


def _product_view(p: dict) -> Product:
    return {"product_id": p["id"], "name": p["name"], "category": p["category"], "price": p["price"],
            "currency": CURRENCY, "stock": p["stock"]}


def _order_view(o: dict) -> Order:
    return {
        "order_id": o["id"],
        "customer_id": o["customer_id"],
        "product_id": o["product_id"],
        "quantity": o["quantity"],
        "total": o["total"],
        "currency": CURRENCY,
        "status": o["status"],
        "placed_on": o["placed_on"],
    }


@tool(
    phrases=("find the customer with email {email}", "look up which customer uses the email address {email}"),
    answer=("customer_id", "name"),
)
def find_customer(db: Store, email: Annotated[str, Arg("Exact email address", entity="customer_email")]) -> Customer:
    """Find a customer by email address."""
    for c in db.where("customers", "email", email.strip().lower()):
        return _customer_view(c)
    raise ToolError("not_found", f"no customer has the email {email!r}")


@tool(phrases=("look up {customer_id}", "get the customer profile of {customer_id}"))
def get_customer(db: Store, customer_id: CustomerId) -> Customer:
    """Get a customer's profile: name, email, city and account status."""
    return _customer_view(_customer(db, customer_id))


@tool(
    phrases=("get the latest order of {customer_id}", "show the most recent order placed by {customer_id}"),
    answer=("order_id", "status", "total"),
)
def get_latest_order(db: Store, customer_id: CustomerId) -> Order:
    """Get the most recent order a customer placed."""
    _customer(db, customer_id)
    mine = db.where("orders", "customer_id", customer_id)
    if not mine:
        raise ToolError("not_found", f"customer {customer_id} has no orders")
    return _order_view(max(mine, key=lambda o: (o["placed_on"], o["id"])))


@tool(
    phrases=("show the details of {order_id}", ask("check the status of {order_id}", "status")),
    answer=("status", "total", "product_id"),
)
def get_order(db: Store, order_id: OrderId) -> Order:
    """Get an order: who placed it, the product and quantity, the total and its status."""
    return _order_view(_order(db, order_id))


@tool(
    phrases=("find the product called {name}", "look up the product named {name}"),
    answer=("product_id", "price"),
)
def find_product(db: Store, name: Annotated[str, Arg("Exact product name", entity="product_name")]) -> Product:
    """Find a product by its exact name."""
    for p in db.where("products", "name", name.strip().lower(), "lower"):
        return _product_view(p)
    raise ToolError("not_found", f"no product is named {name!r}")


@tool(phrases=("show the product details of {product_id}", ask("get the name and price of {product_id}", "name", "price")))
def get_product(db: Store, product_id: ProductId) -> Product:
    """Get a product's name, category, price and stock."""
    return _product_view(_product(db, product_id))


class Stock(TypedDict):
    product_id: Annotated[str, Arg("Product id", entity="product_id")]
    stock: int
    in_stock: bool


@tool(phrases=("check the stock level of {product_id}", ask("tell me how many units of {product_id} are left", "stock")))
def check_stock(db: Store, product_id: ProductId) -> Stock:
    """Check how many units of a product are in stock."""
    p = _product(db, product_id)
    return {"product_id": p["id"], "stock": p["stock"], "in_stock": p["stock"] > 0}


class ProductBrief(TypedDict):
    product_id: str
    name: str
    price: float


class ProductSearch(TypedDict):
    category: str
    products: list[ProductBrief]
    count: int
    cheapest_product_id: Annotated[str, Arg("The cheapest product in stock", entity="product_id")]
    cheapest_price: float
    currency: Currency


@tool(
    phrases=(ask("list the in-stock products in {category}", "count", "cheapest_product_id"), ask("find the cheapest in-stock product in {category}", "cheapest_product_id", "cheapest_price")),
    answer=("count", "cheapest_product_id", "cheapest_price"),
)
def search_products(db: Store, category: Category) -> ProductSearch:
    """List the in-stock products of a category, cheapest first."""
    found = sorted((p for p in db.where("products", "category", category) if p["stock"] > 0),
                   key=lambda p: (p["price"], p["id"]))
    if not found:
        raise ToolError("not_found", f"no {category} products are in stock")
    briefs: list[ProductBrief] = [{"product_id": p["id"], "name": p["name"], "price": p["price"]} for p in found]
    return {"category": category, "products": briefs, "count": len(briefs),
            "cheapest_product_id": found[0]["id"], "cheapest_price": found[0]["price"], "currency": CURRENCY}


@tool(
    mutates=True,
    phrases=(
        "order {quantity} units of {product_id} for {customer_id}",
        "place an order of {quantity} x {product_id} for {customer_id}",
    ),
    answer=("order_id", "total"),
)
def place_order(
    db: Store,
    customer_id: CustomerId,
    product_id: ProductId,
    quantity: Annotated[int, Arg("Units to order", ge=1, le=MAX_QUANTITY)],
) -> Order:
    """Place an order for a product. Fails for suspended customers or when stock is short."""
    c, p = _customer(db, customer_id), _product(db, product_id)
    if c["status"] != "active":
        raise ToolError("forbidden", f"customer {customer_id} is {c['status']} and cannot place orders")
    if p["stock"] < quantity:
        raise ToolError("out_of_stock", f"only {p['stock']} units of {product_id} are in stock, {quantity} requested")
    oid = f"ORD-{50000 + db.serial('orders')}"
    order = {"id": oid, "customer_id": customer_id, "product_id": product_id, "quantity": quantity,
             "total": round(p["price"] * quantity, 2), "status": "processing", "placed_on": TODAY}
    db.put("products", product_id, {**p, "stock": p["stock"] - quantity})
    db.put("orders", oid, order)
    return _order_view(order)


class Cancelled(TypedDict):
    order_id: Annotated[str, Arg("Order id", entity="order_id")]
    status: str
    restocked: int


@tool(mutates=True, phrases=("cancel {order_id}", "call off {order_id} before it ships"))
def cancel_order(db: Store, order_id: OrderId) -> Cancelled:
    """Cancel an order that has not shipped yet; its units go back into stock."""
    o = _order(db, order_id)
    if o["status"] != "processing":
        raise ToolError("invalid_state", f"order {order_id} is {o['status']}; only processing orders can be cancelled")
    p = _product(db, o["product_id"])
    db.put("products", p["id"], {**p, "stock": p["stock"] + o["quantity"]})
    db.put("orders", order_id, {**o, "status": "cancelled"})
    return {"order_id": order_id, "status": "cancelled", "restocked": o["quantity"]}


class Refund(TypedDict):
    refund_id: Annotated[str, Arg("Refund id", entity="refund_id")]
    order_id: Annotated[str, Arg("Refunded order", entity="order_id")]
    amount: float
    currency: Currency
    reason: str
    status: str


def _refund_view(r: dict) -> Refund:
    return {"refund_id": r["id"], "order_id": r["order_id"], "amount": r["amount"], "currency": CURRENCY,
            "reason": r["reason"], "status": r["status"]}


@tool(
    mutates=True,
    phrases=("refund {order_id} with reason {reason}", "issue a refund for {order_id}, reason: {reason}"),
    answer=("refund_id", "amount"),
)
def refund_order(
    db: Store,
    order_id: OrderId,
    reason: RefundReason,
) -> Refund:
    """Refund a delivered order in full, within 45 days of its order date. Orders not yet delivered must be
    cancelled instead."""
    o = _order(db, order_id)
    if o["status"] == "refunded":
        raise ToolError("already_done", f"order {order_id} was already refunded")
    if o["status"] != "delivered":
        raise ToolError("invalid_state", f"order {order_id} is {o['status']}; only delivered orders can be refunded")
    placed = date.fromisoformat(o["placed_on"])
    if (date.fromisoformat(TODAY) - placed).days > REFUND_DAYS:
        raise ToolError("window_closed", f"order {order_id} was placed on {o['placed_on']}; refunds are only "
                        f"possible within {REFUND_DAYS} days of the order date")
    rid = f"RF-{db.serial('refunds'):04d}"
    refund = {"id": rid, "order_id": order_id, "amount": o["total"], "reason": reason, "status": "issued"}
    db.put("refunds", rid, refund)
    db.put("orders", order_id, {**o, "status": "refunded"})
    return _refund_view(refund)


@tool(
    phrases=("look up {refund_id}", "show the status of {refund_id}"),
    answer=("order_id", "amount", "status"),
)
def get_refund(db: Store, refund_id: RefundId) -> Refund:
    """Get a refund: the order it refunds, the amount, the reason and its status."""
    r = db.require("refunds", refund_id, "refund")
    return _refund_view(r)


class Restocked(TypedDict):
    product_id: Annotated[str, Arg("Product id", entity="product_id")]
    stock: int


@tool(
    mutates=True,
    phrases=("add {quantity} units of {product_id} to stock", "restock {product_id} with {quantity} units"),
)
def restock_product(
    db: Store,
    product_id: ProductId,
    quantity: Annotated[int, Arg("Units received from the warehouse", ge=1, le=500)],
) -> Restocked:
    """Add units received from the warehouse to a product's stock."""
    p = _product(db, product_id)
    db.put("products", product_id, {**p, "stock": p["stock"] + quantity})
    return {"product_id": product_id, "stock": p["stock"] + quantity}

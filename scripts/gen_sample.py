#!/usr/bin/env python3
"""Generate the seeded sample data of the bundled example project (``journeys/data/``).

Writes ``events.jsonl`` and ``profiles.jsonl`` in the SPEC §3 formats for the ACME shop and its
SaaS sister product, ACME Analytics: two months (2024-03-01 .. 2024-04-30 KST) of ordinary
shopping activity plus planted behaviours, so that every journey in ``journeys/flows/`` has
something to do when the example project is simulated:

- cart-abandonment: carts of 10,000 KRW or more, bought at once, hours or days later, or never;
- onboarding: signups whose profile is complete at once, completed later (an ``identify`` event
  plus ``profile_completed``) or never, with and without a first purchase;
- dormant-reactivation: customers who go quiet for 30+ days; some click ``offer_clicked``, some
  browse first, some come back and buy;
- post-purchase: purchases followed by a review (early or late) or not;
- saas-trial: trials that log in fast, late or never, use ``reports`` or only other features, and
  pay during the trial, after it, or not at all;
- vip-campaign: big spenders with 3+ purchases before some Monday 10:00, and near misses.

Profiles are the CRM export loaded before a simulation: ``total_spent``, ``order_count`` and
``last_order_at`` are totals as of the end of the window (history before it plus the purchases in
``events.jsonl``); attributes that an ``identify`` event sets are left out so replay fills them in.

Only the standard library is used and all randomness comes from one ``random.Random(seed)``, so
the same ``--seed`` and ``--users`` always give byte-identical files. Run from the repository root:

    python scripts/gen_sample.py [--seed 20240301] [--users 300] [--out journeys/data]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

DEFAULT_SEED = 20240301
DEFAULT_USERS = 300
DEFAULT_OUT = Path("journeys/data")

KST = 9  # all datetimes in this script are naive KST wall-clock times
START = datetime(2024, 3, 1)  # inclusive
END = datetime(2024, 5, 1)  # exclusive
FIRST_DAY = START.date()
LAST_DAY = (END - timedelta(days=1)).date()

# UTC offsets used to place activity at local daytime hours. Fixed approximations (daylight saving
# time holds for most of the window), so the script needs no time-zone database.
TZ_OFFSETS: dict[str, int] = {
    "Asia/Seoul": 9,
    "America/Los_Angeles": -7,
    "America/New_York": -4,
    "Europe/London": 1,
}
TZ_COUNTRY = {"Asia/Seoul": "KR", "America/Los_Angeles": "US", "America/New_York": "US",
              "Europe/London": "GB"}

# Relative activity per local hour 0..23: shoppers peak at lunch and late evening, SaaS users work.
SHOP_HOURS = [2, 1, 1, 0.5, 0.3, 0.3, 0.8, 2, 4, 4, 5, 6, 9, 8, 6, 5, 5, 6, 7, 8, 10, 11, 9, 5]
WORK_HOURS = [0, 0, 0, 0, 0, 0, 0, 1, 4, 8, 10, 9, 5, 8, 10, 9, 8, 6, 3, 1, 1, 1, 0.5, 0]

ACTIVITY = {"app_open", "product_view", "add_to_cart", "purchase"}  # dormant-reactivation's list

FAMILY_NAMES = [("김", "kim", 21), ("이", "lee", 15), ("박", "park", 8), ("최", "choi", 5),
                ("정", "jung", 5), ("강", "kang", 2), ("조", "cho", 2), ("윤", "yoon", 2),
                ("장", "jang", 2), ("임", "lim", 2), ("한", "han", 1), ("오", "oh", 1),
                ("서", "seo", 1), ("신", "shin", 1), ("권", "kwon", 1), ("황", "hwang", 1),
                ("안", "ahn", 1), ("송", "song", 1), ("류", "ryu", 1), ("홍", "hong", 1)]
GIVEN_NAMES = [("민준", "minjun"), ("서준", "seojun"), ("도윤", "doyun"), ("예준", "yejun"),
               ("시우", "siwoo"), ("하준", "hajun"), ("주원", "juwon"), ("지호", "jiho"),
               ("준우", "junwoo"), ("현우", "hyunwoo"), ("건우", "gunwoo"), ("우진", "woojin"),
               ("민재", "minjae"), ("현준", "hyunjun"), ("정우", "jungwoo"), ("승현", "seunghyun"),
               ("서연", "seoyeon"), ("서윤", "seoyun"), ("지우", "jiwoo"), ("서현", "seohyun"),
               ("민서", "minseo"), ("하은", "haeun"), ("하윤", "hayun"), ("윤서", "yunseo"),
               ("지유", "jiyu"), ("지민", "jimin"), ("채원", "chaewon"), ("수아", "sua"),
               ("다은", "daeun"), ("은서", "eunseo"), ("예은", "yeeun"), ("수빈", "subin"),
               ("영숙", "youngsook"), ("정희", "junghee"), ("미경", "mikyung"), ("성호", "sungho"),
               ("영수", "youngsoo"), ("은정", "eunjung"), ("상훈", "sanghoon"), ("혜진", "hyejin")]
EN_FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan",
            "Grace", "Daniel", "Chloe", "Ryan", "Hannah", "Jack", "Emily", "Owen", "Zoe", "Henry"]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Walker",
           "Hall", "Young", "Allen", "King", "Wright", "Scott", "Baker", "Carter", "Turner"]
COMPANIES = ["Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Adventure Works",
             "Litware", "Proseware", "Wide World Importers", "가온데이터", "한결물류", "새봄커머스",
             "다온랩", "푸른숲출판", "별빛교육"]
SIGNUP_SOURCES = ["organic", "organic", "instagram", "naver_ad", "kakao", "referral", "google_ad"]
OFFERS = {"coupon": 2, "free_shipping": 1, "points": 1}
SAAS_PLANS = {"pro": 49_000, "team": 149_000, "business": 390_000}  # KRW per month
SAAS_FEATURES = ["dashboards", "alerts", "export", "sql_editor", "sharing"]
TRIAL_DAYS = 14


@dataclass(frozen=True)
class Product:
    pid: str
    name: str
    category: str
    price: int

    @property
    def premium(self) -> bool:
        return self.price >= 200_000


_CATALOG = [
    ("electronics", [("무선 이어폰", 89_000), ("블루투스 스피커", 59_000),
                     ("보조배터리 20000mAh", 32_900), ("USB-C 고속 충전기", 19_900),
                     ("기계식 키보드", 129_000), ("스마트워치", 249_000),
                     ("노트북 14인치", 1_290_000), ("OLED 모니터 27인치", 459_000),
                     ("휴대폰 케이블 2개입", 7_900)]),
    ("fashion", [("오버핏 맨투맨", 39_000), ("데님 자켓", 79_000), ("린넨 셔츠", 45_000),
                 ("러닝화", 119_000), ("캔버스 스니커즈", 59_000), ("양말 3족 세트", 8_900),
                 ("캐시미어 코트", 389_000), ("가죽 토트백", 259_000)]),
    ("beauty", [("수분 크림", 28_000), ("선크림 SPF50", 18_900), ("립밤", 5_900),
                ("클렌징 폼", 12_900), ("향수 50ml", 129_000)]),
    ("home", [("극세사 이불", 69_000), ("무드등", 24_900), ("원목 도마", 19_800),
              ("수납 바구니", 9_900), ("로봇청소기", 599_000), ("에스프레소 머신", 329_000)]),
    ("food", [("제주 감귤 5kg", 24_900), ("유기농 현미 4kg", 21_500),
              ("드립백 커피 30개입", 16_900), ("견과류 선물세트", 35_000),
              ("한우 선물세트", 219_000)]),
    ("sports", [("요가 매트", 29_000), ("덤벨 세트 10kg", 54_000), ("등산 배낭 30L", 89_000),
                ("캠핑 의자", 49_000)]),
    ("books", [("파이썬 입문서", 28_000), ("그림책 세트", 45_000), ("에세이 신간", 15_300)]),
]
PRODUCTS = [Product(f"p-{i:03d}", name, category, price)
            for i, (category, name, price) in enumerate(
                ((c, n, p) for c, items in _CATALOG for n, p in items), start=1)]
CATEGORIES = [category for category, _ in _CATALOG]


@dataclass
class Event:
    at: datetime
    seq: int
    user_id: str
    name: str
    props: dict[str, object]


@dataclass
class User:
    num: int
    segment: str
    locale: str
    timezone: str
    contact: dict[str, object]  # profile attributes as the CRM knows them (before counts)
    consent: dict[str, bool]
    has_profile: bool = True
    history_orders: int = 0
    history_spent: int = 0
    history_last_order: datetime | None = None
    deferred: set[str] = field(default_factory=set)  # attributes set by identify events instead
    unsubscribed: list[str] = field(default_factory=list)
    purchases: list[tuple[datetime, int, str]] = field(default_factory=list)
    last_active: datetime | None = None

    @property
    def uid(self) -> str:
        return f"u-{self.num:04d}"


class Sim:
    """The random source and the growing event list."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self._orders = 0
        self._decks: dict[str, list[str]] = {}

    def emit(self, user: User, at: datetime, name: str, props: dict[str, object] | None = None
             ) -> bool:
        """Record an event if it falls inside the window; say whether it did."""
        if not START <= at < END:
            return False
        self.events.append(Event(at, len(self.events), user.uid, name, props or {}))
        if name in ACTIVITY and (user.last_active is None or at > user.last_active):
            user.last_active = at
        return True

    def draw(self, key: str, deck: dict[str, int]) -> str:
        """Draw a variant from a shuffled deck, refilled when empty: planted behaviours keep
        their exact proportions (every variant shows up) while the order stays random."""
        pile = self._decks.get(key)
        if not pile:
            pile = [variant for variant, copies in deck.items() for _ in range(copies)]
            self.rng.shuffle(pile)
            self._decks[key] = pile
        return pile.pop()

    def order_id(self) -> str:
        """A provisional order id; ids are renumbered in time order when writing."""
        self._orders += 1
        return f"o-{self._orders:05d}"


# --- time helpers --------------------------------------------------------------------------------

def secs(n: float) -> timedelta:
    return timedelta(seconds=int(n))


def to_kst(user: User, local: datetime) -> datetime:
    return local + timedelta(hours=KST - TZ_OFFSETS[user.timezone])


def local_day(user: User, at: datetime) -> date:
    return (at - timedelta(hours=KST - TZ_OFFSETS[user.timezone])).date()


def at_local(sim: Sim, user: User, day: date, hours: list[float] = SHOP_HOURS) -> datetime:
    """A random time of the user's local ``day``, weighted by hour, as KST."""
    rng = sim.rng
    hour = rng.choices(range(24), weights=hours)[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
    return to_kst(user, local)


def days_later(sim: Sim, user: User, at: datetime, days: int,
               hours: list[float] = SHOP_HOURS) -> datetime:
    """A random time ``days`` local days after ``at`` (never before it)."""
    t = at_local(sim, user, local_day(user, at) + timedelta(days=days), hours)
    return t if t > at else at + secs(sim.rng.randint(600, 7200))


def window_days(first: date = FIRST_DAY, last: date = LAST_DAY) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def next_offer_time(user: User, after: datetime) -> datetime:
    """The dormant journey's send slot: the next Tue/Wed/Thu 11:00 local at or after ``after``."""
    day = local_day(user, after)
    for i in range(8):
        d = day + timedelta(days=i)
        t = to_kst(user, datetime(d.year, d.month, d.day, 11))
        if t >= after and d.weekday() in (1, 2, 3):
            return t
    raise AssertionError("unreachable")


def rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S+09:00")


# --- users ---------------------------------------------------------------------------------------

def korean_name(rng: random.Random) -> tuple[str, str]:
    """A Korean name and a romanised e-mail handle."""
    family, family_rom, _ = rng.choices(FAMILY_NAMES, weights=[w for *_, w in FAMILY_NAMES])[0]
    given, given_rom = rng.choice(GIVEN_NAMES)
    return family + given, f"{given_rom}.{family_rom}"


def english_name(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
    return f"{first} {last}", f"{first}.{last}".lower()


def phone_number(rng: random.Random, num: int, country: str) -> str:
    """Fictional numbers only: Korean 010-0000-xxxx, or the US 555-01xx range."""
    if country == "US":
        return f"+1{rng.choice(['213', '310', '415', '646', '718'])}55501{num % 100:02d}"
    return f"+82100000{num % 10_000:04d}"


def choose_home(rng: random.Random, segment: str) -> tuple[str, str]:
    """(locale, timezone): mostly Koreans in Seoul, ~10% English speakers, a few abroad."""
    english = rng.random() < (0.5 if segment == "saas" else 0.06)
    if english:
        tz = rng.choices(list(TZ_OFFSETS), weights=[25, 40, 20, 15])[0]
        return "en", tz
    return "ko", "America/Los_Angeles" if rng.random() < 0.03 else "Asia/Seoul"


def make_consent(rng: random.Random) -> dict[str, bool]:
    consent = {"email": rng.random() < 0.85, "sms": rng.random() < 0.55,
               "push": rng.random() < 0.7, "night": rng.random() < 0.03}
    if rng.random() < 0.05:
        del consent["night"]  # older records predate the night-time consent
    return consent


def make_user(rng: random.Random, num: int, segment: str) -> User:
    locale, tz = choose_home(rng, segment)
    name, handle = korean_name(rng) if locale == "ko" else english_name(rng)
    country = TZ_COUNTRY[tz]
    domain = "example.org" if segment == "saas" else "example.com"
    contact: dict[str, object] = {"name": name}
    if segment in ("saas", "newcomer") or rng.random() < 0.95:
        contact["email"] = f"{handle}{num:02d}@{domain}"
    if rng.random() < (0.85 if country == "KR" else 0.4):
        contact["phone"] = phone_number(rng, num, country)
    if rng.random() < (0.3 if segment == "saas" else 0.65):
        contact["push_token"] = f"fcm-{rng.getrandbits(96):024x}"
    if rng.random() < 0.9:
        contact["timezone"] = tz  # the rest fall back to the project timezone
    contact["locale"] = locale
    contact["country"] = country
    if segment == "saas":
        contact["company"] = rng.choice(COMPANIES)
        contact["plan"] = rng.choices(list(SAAS_PLANS), weights=[6, 3, 1])[0]
    elif rng.random() < 0.5:
        contact["favorite_category"] = rng.choice(CATEGORIES)
    return User(num, segment, locale, tz, contact, make_consent(rng))


def give_history(rng: random.Random, user: User, orders: int, spent: int) -> None:
    """Orders placed before the window."""
    user.history_orders, user.history_spent = orders, spent
    if orders:
        user.history_last_order = START - timedelta(days=rng.randint(3, 150),
                                                    seconds=rng.randint(0, 86_399))


# --- shopping building blocks --------------------------------------------------------------------

def pick_product(sim: Sim, user: User, *, premium: bool = False, max_price: int = 0) -> Product:
    rng = sim.rng
    pool = [p for p in PRODUCTS if p.premium == premium or (not premium and rng.random() < 0.04)]
    if max_price:
        pool = [p for p in pool if p.price <= max_price]
    favorite = user.contact.get("favorite_category")
    preferred = [p for p in pool if p.category == favorite]
    if preferred and rng.random() < 0.6:
        return rng.choice(preferred)
    return rng.choice(pool)


def browse(sim: Sim, user: User, at: datetime, views: int, *, premium: bool = False,
           max_price: int = 0) -> tuple[datetime, Product]:
    """An app session: usually an app_open, then ``views`` product views."""
    rng = sim.rng
    t = at
    if rng.random() < 0.9:
        sim.emit(user, t, "app_open")
    product = pick_product(sim, user, premium=premium, max_price=max_price)
    for _ in range(views):
        t += secs(rng.randint(15, 300))
        product = pick_product(sim, user, premium=premium, max_price=max_price)
        sim.emit(user, t, "product_view", {"product_id": product.pid, "category": product.category})
    return t, product


def purchase(sim: Sim, user: User, at: datetime, items: list[tuple[Product, int]],
             review_p: float = 0.35) -> None:
    rng = sim.rng
    first = items[0][0]
    amount = sum(p.price * q for p, q in items)
    name = first.name
    if len(items) > 1:
        name += f" 외 {len(items) - 1}건"
    order_id = sim.order_id()
    props: dict[str, object] = {"amount": amount, "order_id": order_id,
                                "quantity": sum(q for _, q in items),
                                "category": first.category, "product_name": name}
    if not sim.emit(user, at, "purchase", props):
        return
    user.purchases.append((at, amount, first.category))
    if rng.random() < review_p:
        when = days_later(sim, user, at, rng.choice([2, 3, 5, 6, 7, 8, 8, 9, 10, 12]))
        rating = rng.choices([5, 4, 3, 2, 1], weights=[55, 25, 10, 5, 5])[0]
        sim.emit(user, when, "review_submitted", {"order_id": order_id, "rating": rating})


# Hours from cart to purchase for "later" buyers: before the 6h push, between push and e-mail,
# between e-mail and coupon, after the coupon but within the 3-day goal, and too late for it.
LATER_HOURS = [1.5, 3, 5, 7, 9, 11, 14, 18, 22, 27, 33, 45, 60, 80, 100]


def cart(sim: Sim, user: User, at: datetime, product: Product, outcome: str = "",
         review_p: float = 0.35) -> datetime:
    """Add to cart, then buy now, later or never; returns the time of the last event."""
    rng = sim.rng
    t = at + secs(rng.randint(10, 180))
    items = [(product, rng.choices([1, 2, 3], weights=[80, 15, 5])[0])]
    if rng.random() < 0.15:
        items.append((pick_product(sim, user), 1))
    for p, _ in items:
        sim.emit(user, t, "add_to_cart", {"price": p.price, "product_id": p.pid,
                                          "product_name": p.name, "category": p.category})
        t += secs(rng.randint(5, 90))
    outcome = outcome or rng.choices(["now", "later", "never"], weights=[35, 25, 40])[0]
    if outcome == "now":
        t += secs(rng.randint(60, 1500))
        purchase(sim, user, t, items, review_p)
    elif outcome == "later":
        t += timedelta(hours=rng.choice(LATER_HOURS) * rng.uniform(0.85, 1.15))
        sim.emit(user, t - secs(rng.randint(30, 400)), "app_open")
        purchase(sim, user, t, items, review_p)
    return t


def session(sim: Sim, user: User, at: datetime, cart_p: float = 0.35, outcome: str = "",
            review_p: float = 0.35) -> datetime:
    rng = sim.rng
    t, product = browse(sim, user, at, rng.randint(1, 5))
    if rng.random() < cart_p:
        t = cart(sim, user, t, product, outcome, review_p)
    elif rng.random() < 0.04:  # buy-now without a cart
        t += secs(rng.randint(30, 300))
        purchase(sim, user, t, [(product, 1)], review_p)
    return t


def maybe_unsubscribe(sim: Sim, user: User, after: datetime, p: float) -> None:
    rng = sim.rng
    if rng.random() < p:
        channel = rng.choice(["email", "email", "sms", "push"])
        if sim.emit(user, after + timedelta(hours=rng.uniform(0.5, 20)), "unsubscribe",
                    {"channel": channel}):
            user.unsubscribed.append(channel)


def identify(sim: Sim, user: User, at: datetime, keys: list[str]) -> None:
    """Emit the user's known values for ``keys``; they then stay out of the profile line."""
    props = {k: user.contact[k] for k in keys if k in user.contact}
    if props and sim.emit(user, at, "identify", props):
        user.deferred.update(props)


# --- segments ------------------------------------------------------------------------------------

def regular(sim: Sim, user: User) -> None:
    """Ordinary shoppers: browsing, carts (abandoned or not), purchases, reviews."""
    rng = sim.rng
    if rng.random() < 0.6:
        give_history(rng, user, rng.randint(1, 10), rng.randrange(20_000, 250_000, 100))
    user.has_profile = rng.random() > 0.08
    first = FIRST_DAY + timedelta(days=rng.randint(0, 25)) if rng.random() < 0.3 else FIRST_DAY
    days = window_days(first)
    n = rng.choices(range(1, 13), weights=[4, 8, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2])[0]
    starts = sorted(at_local(sim, user, d) for d in rng.sample(days, min(n, len(days))))
    for i, start in enumerate(starts):
        if i == 0 and user.has_profile and rng.random() < 0.12:
            identify(sim, user, start + secs(1), [rng.choice(["push_token", "push_token", "phone",
                                                              "favorite_category"])])
        end = session(sim, user, start)
        if i == len(starts) // 2:
            maybe_unsubscribe(sim, user, end, 0.02)


def newcomer(sim: Sim, user: User) -> None:
    """Signups: profile complete at once / later / never; a first purchase or not."""
    rng = sim.rng
    t = at_local(sim, user, FIRST_DAY + timedelta(days=rng.randint(0, 57)))
    sim.emit(user, t, "app_open")
    t += secs(rng.randint(20, 240))
    sim.emit(user, t, "signup", {"source": rng.choice(SIGNUP_SOURCES)})
    mode = sim.draw("profile", {"at_signup": 5, "later": 8, "never": 7})
    if mode == "never":
        user.contact.pop("name", None)
        user.contact.pop("phone", None)
    elif mode == "later":
        user.contact.setdefault("phone", phone_number(rng, user.num, str(user.contact["country"])))
        done = t + timedelta(hours=rng.choice([0.5, 3, 8, 15, 20, 30, 40, 55, 80]))
        identify(sim, user, done, ["name", "phone"])
        sim.emit(user, done + secs(rng.randint(2, 30)), "profile_completed")
    buys = sim.draw("first_purchase", {"yes": 1, "no": 1}) == "yes"
    buy_day = rng.choice([0, 1, 2, 3, 4, 6, 8, 11]) if buys else -1
    visit_days = set(rng.sample(range(1, 15), rng.randint(0, 4)))
    for offset in sorted(visit_days | ({buy_day} - {-1})):
        start = days_later(sim, user, t, offset) if offset else t + secs(rng.randint(60, 900))
        if offset == buy_day:
            session(sim, user, start, cart_p=1.0, outcome="now", review_p=0.45)
        else:
            session(sim, user, start, cart_p=0.25, outcome="never")
    maybe_unsubscribe(sim, user, t + timedelta(days=rng.uniform(0, 5)), 0.04)


def dormant(sim: Sim, user: User) -> None:
    """Customers active early in March who then go quiet for 30+ days; some answer the offer."""
    rng = sim.rng
    if rng.random() < 0.9:  # the rest have never ordered: outside the journey's audience
        give_history(rng, user, rng.randint(1, 8), rng.randrange(30_000, 300_000, 100))
    user.has_profile = True
    days = window_days(FIRST_DAY, FIRST_DAY + timedelta(days=rng.randint(0, 24)))
    chosen = sorted(set(rng.sample(days, min(len(days), rng.randint(1, 4)))) | {days[-1]})
    ordered = user.history_orders > 0
    for d in chosen:
        session(sim, user, at_local(sim, user, d), cart_p=0.3 if ordered else 0.0,
                outcome=rng.choice(["now", "never"]), review_p=0.0)
    if user.last_active is None:
        sim.emit(user, at_local(sim, user, days[-1]), "app_open")
    assert user.last_active is not None
    offer_at = next_offer_time(user, user.last_active + timedelta(days=30))
    respond(sim, user, offer_at)


def respond(sim: Sim, user: User, offer_at: datetime) -> None:
    """What a dormant customer does after the win-back offer (sent at ``offer_at``)."""
    rng = sim.rng
    response = sim.draw("winback", {"click": 9, "return": 3, "silent": 8})
    if response == "click":
        click = offer_at + timedelta(hours=rng.uniform(0.2, 60))
        offer = sim.draw("offer", OFFERS)
        if offer != "coupon" and rng.random() < 0.5:  # a hot lead by browsing (3+ views in 72h)
            browse(sim, user, click - secs(rng.randint(900, 3600)), rng.randint(3, 5))
        sim.emit(user, click, "offer_clicked", {"offer": offer})
        if rng.random() < 0.6:
            t, product = browse(sim, user, click + secs(rng.randint(20, 600)), rng.randint(1, 4))
            if rng.random() < 0.6:
                later = days_later(sim, user, t, rng.choice([0, 0, 1, 3, 6, 10]))
                cart(sim, user, later, product, outcome="now", review_p=0.2)
        maybe_unsubscribe(sim, user, click, 0.05)
    elif response == "return":  # comes back on their own after the reminder
        session(sim, user, days_later(sim, user, offer_at, rng.randint(4, 12)), cart_p=0.4)


def vip(sim: Sim, user: User) -> None:
    """Big spenders with 3-6 purchases in the window (RFM VIPs for the Monday campaign)."""
    rng = sim.rng
    give_history(rng, user, rng.randint(5, 40), rng.randrange(300_000, 3_000_000, 1_000))
    user.has_profile = True
    days = window_days(FIRST_DAY, date(2024, 4, 27))  # 3+ purchases before Monday 29 April
    for d in sorted(rng.sample(days, rng.randint(3, 6))):
        t, product = browse(sim, user, at_local(sim, user, d), rng.randint(1, 3), premium=True)
        cart(sim, user, t, product, outcome="now", review_p=0.3)
    for d in rng.sample(window_days(), rng.randint(3, 8)):
        session(sim, user, at_local(sim, user, d), cart_p=0.3)
    if rng.random() < 0.3:
        user.contact["vip"] = True
        user.contact["vip_since"] = rfc3339(datetime(2023, rng.randint(1, 12), 4, 10))


def near_vip(sim: Sim, user: User) -> None:
    """Near misses and the boundary case for the VIP audience (purchases without reviews)."""
    rng = sim.rng
    user.has_profile = True
    kind = sim.draw("near_vip", {"infrequent": 1, "small": 1, "boundary": 1})
    if kind == "infrequent":  # big spender, but only 2 purchases in the window
        count, premium, max_price, target = 2, True, 0, 0
    elif kind == "small":  # frequent, but total_spent stays at 420,000
        count, premium, max_price, target = 4, False, 50_000, 420_000
    else:  # exactly 500,000 spent with exactly 3 purchases (the last by 11 April)
        count, premium, max_price, target = 3, False, 150_000, 500_000
    days = window_days(FIRST_DAY, date(2024, 4, 11))
    bought = 0
    for d in sorted(rng.sample(days, count)):
        t, product = browse(sim, user, at_local(sim, user, d), rng.randint(1, 3),
                            premium=premium, max_price=max_price)
        t += secs(rng.randint(30, 300))
        purchase(sim, user, t, [(product, 1)], review_p=0.0)
        bought += product.price
    for d in rng.sample(window_days(), rng.randint(2, 5)):
        browse(sim, user, at_local(sim, user, d), rng.randint(1, 4))
    if target:
        give_history(rng, user, rng.randint(2, 6), target - bought)
    else:
        give_history(rng, user, rng.randint(10, 30), rng.randrange(1_500_000, 3_000_000, 1_000))


def saas(sim: Sim, user: User) -> None:
    """ACME Analytics trials: login fast/late/never, reports early/late/never, pay or not."""
    rng = sim.rng
    user.has_profile = True
    plan = str(user.contact["plan"])
    start = at_local(sim, user, FIRST_DAY + timedelta(days=rng.randint(0, 50)), WORK_HOURS)
    sim.emit(user, start, "trial_started", {"plan": plan, "trial_days": TRIAL_DAYS})
    login = sim.draw("login", {"fast": 15, "late": 3, "never": 2})
    if login == "never":
        user.contact["plan"], user.contact["lifecycle_stage"] = "free", "churned"
        maybe_unsubscribe(sim, user, start + timedelta(days=3), 0.1)
        return
    delay = rng.uniform(0.1, 10) if login == "fast" else rng.uniform(26, 70)
    first = start + timedelta(hours=delay)
    sim.emit(user, first, "first_login")
    saas_usage(sim, user, first)
    pay_mode = sim.draw("pay", {"trial": 7, "after": 3, "no": 10})
    if pay_mode == "no":
        user.contact["plan"], user.contact["lifecycle_stage"] = "free", "trial_expired"
        maybe_unsubscribe(sim, user, start + timedelta(days=rng.uniform(5, 16)), 0.05)
        return
    offset = rng.randint(5, 13) if pay_mode == "trial" else rng.randint(15, 20)
    paid = days_later(sim, user, start, offset, WORK_HOURS)
    while paid < END:  # monthly renewals
        sim.emit(user, paid, "subscription_paid", {"amount": SAAS_PLANS[plan], "plan": plan})
        paid += timedelta(days=30)
    user.contact["lifecycle_stage"] = "paying"


def saas_usage(sim: Sim, user: User, first_login: datetime) -> None:
    rng = sim.rng
    reports = sim.draw("reports", {"early": 5, "late": 2, "never": 3})
    report_day = {"early": rng.randint(0, 2), "late": rng.randint(4, 9), "never": -1}[reports]
    usage_days = set(rng.sample(range(0, 15), rng.randint(1, 8)))
    for offset in sorted(usage_days | ({report_day} - {-1})):
        t = first_login + secs(rng.randint(60, 1800)) if offset == 0 else days_later(
            sim, user, first_login, offset, WORK_HOURS)
        features = rng.sample(SAAS_FEATURES, rng.randint(1, 3))
        if offset == report_day:
            features.insert(rng.randint(0, len(features)), "reports")
        for feature in features:
            sim.emit(user, t, "feature_used", {"feature": feature})
            t += secs(rng.randint(60, 1200))


SEGMENTS = {"vip": (8, vip), "near_vip": (3, near_vip), "dormant": (30, dormant),
            "newcomer": (50, newcomer), "saas": (30, saas), "regular": (0, regular)}


def segment_plan(rng: random.Random, n: int) -> list[str]:
    """Segment per user, in shuffled order; shares are per 300 users, regular takes the rest."""
    plan: list[str] = []
    for name, (per_300, _) in SEGMENTS.items():
        if per_300:
            plan += [name] * max(1, round(n * per_300 / 300))
    plan += ["regular"] * (n - len(plan))
    rng.shuffle(plan)
    return plan


# --- output --------------------------------------------------------------------------------------

PROFILE_KEYS = ["name", "email", "phone", "push_token", "timezone", "locale", "country", "company",
                "plan"]


def profile(user: User) -> dict[str, object]:
    prof: dict[str, object] = {"user_id": user.uid}
    for key in PROFILE_KEYS:
        if key in user.contact and key not in user.deferred:
            prof[key] = user.contact[key]
    consent = dict(user.consent)
    for channel in user.unsubscribed:
        consent[channel] = False
    prof["consent"] = consent
    orders = user.history_orders + len(user.purchases)
    if user.segment != "saas":
        prof["total_spent"] = user.history_spent + sum(a for _, a, _ in user.purchases)
        prof["order_count"] = orders
    last = max([t for t, _, _ in user.purchases], default=user.history_last_order)
    if last is not None:
        prof["last_order_at"] = rfc3339(last)
    stage = user.contact.get("lifecycle_stage") or ("customer" if orders else "")
    if stage:
        prof["lifecycle_stage"] = stage
    for key in ("favorite_category", "vip", "vip_since"):
        if key in user.contact and key not in user.deferred:
            prof[key] = user.contact[key]
    return prof


def write_events(events: list[Event], path: Path) -> int:
    events.sort(key=lambda e: (e.at, e.seq))
    order_ids: dict[str, str] = {}
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for i, ev in enumerate(events, start=1):
            props = dict(ev.props)
            if "order_id" in props:
                old = str(props["order_id"])
                props["order_id"] = order_ids.setdefault(old, f"o-{len(order_ids) + 1:05d}")
            record = {"event_id": f"e-{i:06d}", "user_id": ev.user_id, "event": ev.name,
                      "timestamp": rfc3339(ev.at), "properties": props}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(events)


def write_profiles(users: list[User], path: Path) -> int:
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for user in users:
            if user.has_profile:
                out.write(json.dumps(profile(user), ensure_ascii=False) + "\n")
                written += 1
    return written


def generate(seed: int, n_users: int) -> tuple[list[User], list[Event]]:
    sim = Sim(seed)
    plan = segment_plan(sim.rng, n_users)
    users = [make_user(sim.rng, num, segment) for num, segment in enumerate(plan, start=1)]
    for user in users:
        SEGMENTS[user.segment][1](sim, user)
    return users, sim.events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="number of users (>= 30)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    if args.users < 30:
        parser.error("--users must be at least 30")
    users, events = generate(args.seed, args.users)
    args.out.mkdir(parents=True, exist_ok=True)
    n_events = write_events(events, args.out / "events.jsonl")
    n_profiles = write_profiles(users, args.out / "profiles.jsonl")
    print(f"wrote {n_events} events for {len(users)} users and {n_profiles} profiles to {args.out}")


if __name__ == "__main__":
    main()

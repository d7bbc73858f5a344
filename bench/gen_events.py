"""Seeded generator of a large, time-ordered event log and profiles for the example project.

Default: 1,000,000 events for 100,000 users over 28 days, in the example catalog's shapes: app
opens and product views dominate, a tenth of events are carts, a few percent purchases, and the
rare events (signups, trials, clicks, reviews, unsubscribes) that the example journeys listen
to. Writes `events.jsonl` (sorted by time) and `profiles.jsonl` into --out.

    python bench/gen_events.py [--events 1000000] [--users 100000] [--seed 7] [--out bench/out]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

import orjson

KST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2024, 3, 4, tzinfo=KST)  # a Monday
DAYS = 28
MIX = [  # (event, weight)
    ("app_open", 300), ("product_view", 350), ("add_to_cart", 110), ("purchase", 55),
    ("review_submitted", 15), ("signup", 12), ("profile_completed", 6), ("offer_clicked", 4),
    ("trial_started", 4), ("first_login", 4), ("feature_used", 8), ("subscription_paid", 2),
    ("identify", 8), ("unsubscribe", 3),
]
CATEGORIES = ["electronics", "fashion", "beauty", "living", "food"]


def properties(rng: random.Random, event: str, n: int) -> dict[str, object]:
    if event in ("product_view",):
        return {"product_id": f"p-{rng.randrange(500):03d}", "category": rng.choice(CATEGORIES)}
    if event == "add_to_cart":
        return {"price": rng.choice([5900, 9900, 12900, 19900, 39000, 89000]),
                "product_id": f"p-{rng.randrange(500):03d}", "category": rng.choice(CATEGORIES)}
    if event == "purchase":
        return {"amount": rng.choice([9900, 19900, 45000, 129000]), "order_id": f"o-{n}",
                "category": rng.choice(CATEGORIES)}
    if event == "review_submitted":
        return {"order_id": f"o-{rng.randrange(n + 1)}", "rating": rng.randint(1, 5)}
    if event == "offer_clicked":
        return {"offer": rng.choice(["coupon", "points", "browse"])}
    if event == "trial_started":
        return {"plan": rng.choice(["team", "business"])}
    if event == "feature_used":
        return {"feature": rng.choice(["reports", "dashboards", "alerts"])}
    if event == "subscription_paid":
        return {"amount": 99, "plan": "team"}
    if event == "identify":
        return {"name": f"고객{rng.randrange(10000)}"}
    return {}


def profile(rng: random.Random, user: str) -> dict[str, object]:
    return {
        "user_id": user, "email": f"{user}@example.com",
        **({"phone": f"+8210{rng.randrange(10**8):08d}"} if rng.random() < 0.7 else {}),
        **({"push_token": f"fcm-{user}"} if rng.random() < 0.6 else {}),
        "timezone": "Asia/Seoul" if rng.random() < 0.95 else "America/Los_Angeles",
        "order_count": rng.randrange(6), "total_spent": rng.choice([0, 90000, 300000, 600000]),
        "consent": {"email": rng.random() < 0.8, "sms": rng.random() < 0.5,
                    "push": rng.random() < 0.7, "night": rng.random() < 0.1},
    }


def generate(events: int, users: int, seed: int, out: Path) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    span = DAYS * 86400
    rows = []
    start = START.timestamp()
    for n in range(events):
        user = f"u{rng.randrange(users):06d}"
        event = rng.choices(names, weights)[0]
        t = start + rng.random() * span
        rows.append((t, n, user, event))
    rows.sort()
    with (out / "events.jsonl").open("wb") as handle:
        for t, n, user, event in rows:
            stamp = dt.datetime.fromtimestamp(int(t), KST).isoformat()
            record = {"event_id": f"e-{n}", "user_id": user, "event": event,
                      "timestamp": stamp, "properties": properties(rng, event, n)}
            handle.write(orjson.dumps(record) + b"\n")
    with (out / "profiles.jsonl").open("wb") as handle:
        for i in range(users):
            handle.write(orjson.dumps(profile(rng, f"u{i:06d}")) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    generate(args.events, args.users, args.seed, args.out)
    size = (args.out / "events.jsonl").stat().st_size
    print(f"wrote {args.events:,} events ({size / 1e6:.0f} MB) for {args.users:,} users "
          f"to {args.out}")


if __name__ == "__main__":
    main()

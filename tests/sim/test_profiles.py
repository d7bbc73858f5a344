"""Profile records checked against the catalog's profile attributes: the one check that profile
files, `identify` events and the daemon's `POST /v1/profiles` share (journeyctl.sim.readers)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from journeyctl.model import Attr, Catalog, EventDef, FrozenMap
from journeyctl.records import (
    Profile,
    Record,
    Undeclared,
    check_attributes,
    event_properties,
    parse_event,
    parse_profile,
)
from journeyctl.records import TimeParser as Parser
from journeyctl.sim.readers import read_events, read_profiles

PARSE = Parser(ZoneInfo("Asia/Seoul"))


def attrs(**types: str | dict[str, str]) -> FrozenMap:
    """name=type, or name={field: type} for an object that declares its fields."""
    return FrozenMap(
        (name, Attr(loc=None, name=name, type="object", fields=attrs(**kind)))  # type: ignore[arg-type]
        if isinstance(kind, dict) else (name, Attr(loc=None, name=name, type=kind))  # type: ignore[arg-type]
        for name, kind in types.items())


CATALOG = Catalog(
    loc=None,  # type: ignore[arg-type]
    events=FrozenMap({"identify": EventDef(loc=None, name="identify")}),  # type: ignore[arg-type]
    profile=attrs(email="string", phone="string", order_count="integer", total_spent="number",
                  vip="boolean", last_order_at="timestamp", tags="list", prefs="object",
                  consent={"email": "boolean", "sms": "boolean"}))


def check(values: dict, undeclared: list[str] | None = None) -> dict | str:
    return check_attributes(CATALOG.profile, values, PARSE, undeclared)


@pytest.mark.parametrize(("values", "reason"), [
    ({"consent": {"email": "yes"}}, "attribute 'consent.email' is text, the catalog says boolean"),
    ({"consent": {"sms": 1}}, "attribute 'consent.sms' is a number, the catalog says boolean"),
    ({"consent": "yes"}, "attribute 'consent' is text, the catalog says object"),
    ({"vip": "true"}, "attribute 'vip' is text, the catalog says boolean"),
    ({"phone": 821012345678}, "attribute 'phone' is a number, the catalog says string"),
    ({"order_count": 2.5}, "attribute 'order_count' is a number, the catalog says integer"),
    ({"total_spent": True}, "attribute 'total_spent' is a boolean, the catalog says number"),
    ({"tags": "a,b"}, "attribute 'tags' is text, the catalog says list"),
    ({"last_order_at": "last week"}, "attribute 'last_order_at' is text, the catalog says "
                                     "timestamp"),
])
def test_a_declared_attribute_of_the_wrong_type_is_the_reason(values: dict, reason: str) -> None:
    assert check(values) == reason


def test_values_of_the_declared_types_pass_and_timestamps_become_datetimes() -> None:
    nested = {"email": True, "sms": None}  # None: the attribute is cleared, whatever its type
    values = {"email": "a@example.com", "order_count": 3.0, "total_spent": 1200,
              "vip": False, "tags": ["x"], "prefs": {"anything": [1, {"goes": "here"}]},
              "consent": nested, "last_order_at": "2024-03-01 10:00:00"}
    checked = check(values)
    assert isinstance(checked, dict)
    assert checked["order_count"] == 3 and type(checked["order_count"]) is int
    assert checked["last_order_at"] == dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.UTC)
    assert values["last_order_at"] == "2024-03-01 10:00:00"  # the input is not changed
    assert checked["consent"] is nested


def test_undeclared_attributes_are_kept_and_named_by_their_path() -> None:
    undeclared: list[str] = []
    values = {"email": "a@example.com", "referral": "friend",
              "consent": {"email": True, "kakao": True}, "prefs": {"free": 1}}
    assert check(values, undeclared) == values
    assert undeclared == ["referral", "consent.kakao"]  # below an open object nothing is


DOTTED = ("attribute 'consent.email' is written as one key with a dot; write it nested: "
          '{"consent": {"email": true}}')


def test_a_dotted_key_for_a_declared_attribute_is_the_reason() -> None:
    assert check({"consent.email": True}) == DOTTED
    assert check({"consent.kakao": True}) == (  # under a declared attribute: meant nested
        "attribute 'consent.kakao' is written as one key with a dot; write it nested: "
        '{"consent": {"kakao": true}}')
    assert check({"consent": {"email.x": "a" * 50}}) == (
        "attribute 'consent.email.x' is written as one key with a dot; write it nested: "
        '{"email": {"x": "..."}}')  # a long value is left out
    undeclared: list[str] = []
    assert check({"utm.source": "ad"}, undeclared) == {"utm.source": "ad"}  # not declared
    assert undeclared == ["utm.source"]
    assert parse_profile({"user_id": "u", "consent.email": True}, CATALOG, PARSE) == DOTTED
    assert identify(**{"consent.email": True}) == f"profile {DOTTED}"


def test_parse_profile_returns_the_user_and_the_undeclared_paths() -> None:
    parsed = parse_profile({"user_id": 7, "vip": True, "nickname": "7"}, CATALOG, PARSE)
    assert parsed == Profile("7", {"vip": True, "nickname": "7"}, ("nickname",))
    assert parse_profile({"user_id": "u", "vip": "no"}, CATALOG, PARSE) == (
        "attribute 'vip' is text, the catalog says boolean")
    assert parse_profile({"vip": True}, CATALOG, PARSE) == "missing user_id"


def identify(**props: object) -> Record | str:
    return parse_event({"user_id": "u", "event": "identify", "timestamp": 0,
                        "properties": props}, CATALOG, PARSE)


def test_identify_events_follow_the_profile_types() -> None:
    assert identify(consent={"email": "yes"}) == (
        "profile attribute 'consent.email' is text, the catalog says boolean")
    record = identify(last_order_at="2024-03-01T00:00:00Z", referral="friend")
    assert isinstance(record, Record)
    assert record.properties == {"last_order_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
                                 "referral": "friend"}
    other = parse_event({"user_id": "u", "event": "signup", "timestamp": 0,
                         "properties": {"vip": "not a profile"}}, CATALOG, PARSE)
    assert isinstance(other, Record)  # only identify merges into the profile


def test_event_properties_is_the_check_every_event_meets() -> None:
    assert event_properties(CATALOG, "identify", {"vip": "yes"}, PARSE) == (
        "profile attribute 'vip' is text, the catalog says boolean")
    assert event_properties(CATALOG, "identify", {"last_order_at": "2024-03-01 09:00"},
                            PARSE) == {"last_order_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC)}
    assert event_properties(CATALOG, "signup", {"vip": "yes"}, PARSE) == {"vip": "yes"}


def test_undeclared_counts_rank_by_frequency_then_name() -> None:
    counts = Undeclared()
    for names in [("b",), ("a", "b"), (), ("c",)]:
        counts.add(names)
    other = Undeclared()
    other.add(("c",))
    counts.merge(other)
    assert counts.as_json() == {"lines": 4, "attributes": {"b": 2, "c": 2, "a": 1}}
    assert counts.as_json(top=1) == {"lines": 4, "attributes": {"b": 2}}


def test_csv_cells_are_typed_by_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    path.write_text("user_id,phone,vip,consent.email,consent.kakao,order_count\n"
                    "007,+821012345678,TRUE,False,true,2\n"
                    "u-2,+821000000000,maybe,,,\n"
                    "u-3,,,,,two\n"
                    "u-4,,,yes,,\n"
                    "u-5,,1,,,\n", encoding="utf-8")
    read = read_profiles(path, CATALOG, PARSE)
    assert read.profiles == {"007": {"phone": "+821012345678", "vip": True,
                                     "consent": {"email": False, "kakao": True},
                                     "order_count": 2}}
    # the wording of a JSON value of the wrong type; booleans are true or false only
    assert [(r.line, r.reason) for r in read.rejects] == [
        (3, "attribute 'vip' is text, the catalog says boolean"),
        (4, "attribute 'order_count' is text, the catalog says integer"),
        (5, "attribute 'consent.email' is text, the catalog says boolean"),
        (6, "attribute 'vip' is text, the catalog says boolean")]
    assert read.undeclared.as_json() == {"lines": 1, "attributes": {"consent.kakao": 1}}


def test_csv_event_cells_are_typed_with_the_same_words(tmp_path: Path) -> None:
    catalog = Catalog(loc=None, events=FrozenMap({"trial": EventDef(  # type: ignore[arg-type]
        loc=None, name="trial", properties=attrs(paid="boolean", days="integer"))}))  # type: ignore[arg-type]
    path = tmp_path / "events.csv"
    path.write_text("user_id,event,timestamp,paid,days\n"
                    "u,trial,2024-03-01,True,7\nu,trial,2024-03-01,yes,7\n"
                    "u,trial,2024-03-01,false,seven\n", encoding="utf-8")
    read = list(read_events(path, 0, catalog, PARSE))
    assert isinstance(read[0], Record) and read[0].properties == {"paid": True, "days": 7}
    assert [(r.line, r.reason) for r in read[1:]] == [  # type: ignore[union-attr]
        (3, "property 'paid' is text, the catalog says boolean"),
        (4, "property 'days' is text, the catalog says integer")]


def test_csv_files_from_excel_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("user_id,vip\nu,true\n", encoding="utf-8-sig")  # "CSV UTF-8"
    assert read_profiles(profiles, CATALOG, PARSE).profiles == {"u": {"vip": True}}
    events = tmp_path / "events.csv"
    events.write_text("user_id,event,timestamp\nu,signup,2024-03-01\n", encoding="utf-8-sig")
    [record] = read_events(events, 0, CATALOG, PARSE)
    assert isinstance(record, Record) and record.user_id == "u"


def test_csv_columns_that_collide_reject_their_line(tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    path.write_text("user_id,extra,extra.lang\nu-1,x,ko\n", encoding="utf-8")
    read = read_profiles(path, CATALOG, PARSE)
    assert [r.reason for r in read.rejects] == [
        "column 'extra.lang' nests under column 'extra', which has a value"]
    path.write_text("user_id,extra.lang,extra\nu-1,ko,x\n", encoding="utf-8")
    assert [r.reason for r in read_profiles(path, CATALOG, PARSE).rejects] == [
        "column 'extra' has a value, and columns nested under it"]
    path.write_text('user_id,prefs.lang,prefs\nu-1,ko,"{""tz"": ""UTC""}"\n', encoding="utf-8")
    assert read_profiles(path, CATALOG, PARSE).profiles == {
        "u-1": {"prefs": {"lang": "ko", "tz": "UTC"}}}  # a JSON object cell merges


def test_a_rejected_line_is_left_out_whole_and_the_others_merge(tmp_path: Path) -> None:
    path = tmp_path / "profiles.jsonl"
    path.write_text('{"user_id": "u", "email": "a@example.com", "consent": {"email": true}}\n'
                    '{"user_id": "u", "phone": "+82", "consent": {"email": "yes"}}\n'
                    '{"user_id": "v", "consent": {"email": "yes"}}\n', encoding="utf-8")
    read = read_profiles(path, CATALOG, PARSE)
    assert read.profiles == {"u": {"email": "a@example.com", "consent": {"email": True}}}
    assert [(r.line, r.reason) for r in read.rejects] == [
        (2, "attribute 'consent.email' is text, the catalog says boolean"),
        (3, "attribute 'consent.email' is text, the catalog says boolean")]
    assert read.read == 3  # the rejected lines are a part of the lines read
    shards = [read_profiles(path, CATALOG, PARSE, (i, 2)) for i in range(2)]
    assert sum(s.read for s in shards) == 3 and sum(len(s.rejects) for s in shards) == 2

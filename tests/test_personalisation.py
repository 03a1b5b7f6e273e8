"""Personalisation files (card contract section 7): loading, examples, and named-field errors."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsvc import crypto
from cardsvc.crypto import Algorithm, KeyId
from simulators.card_os import TransmissionProtocol
from simulators.errors import PersonalisationError
from simulators.personalisation import (
    example_profile,
    load_personalisation,
    parse_personalisation,
)
from simulators.psam import example_psam, load_psam_config, parse_psam_config

EXAMPLES = Path(__file__).resolve().parent.parent / "simulators" / "examples"
F1 = bytes.fromhex("868437041A2B3C4D")
F2 = bytes.fromhex("3337303430327378")


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_shipped_examples_load_and_match_example_profile(generation: int) -> None:
    path = EXAMPLES / f"gen{generation}.json"
    loaded = load_personalisation(path)
    assert loaded.profile.generation == generation
    assert loaded.source == str(path)
    assert json.loads(path.read_text(encoding="utf-8")) == example_profile(generation)


def test_gen2_example_is_the_contract_example() -> None:
    p = parse_personalisation(example_profile(2)).profile
    assert p.atr == bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
    assert p.card_id_code == bytes.fromhex("370402D1560000051A2B3C4D00000001")
    assert (p.region_code, p.card_number, p.ssn, p.name, p.pin) == (
        "370402",
        "A00000011",
        "370402199001011238",
        "张三",
        "123456",
    )
    assert p.protocol is TransmissionProtocol.T0
    assert p.spec_version == "2.00"
    assert p.algorithm is Algorithm.DES3
    assert p.df_records("DF04")


def test_gen3_example_uses_sm4_and_the_vector_card() -> None:
    loaded = parse_personalisation(example_profile(3))
    p = loaded.profile
    assert p.algorithm is Algorithm.SM4
    assert p.atr[-8:] == F1
    assert p.name_ext
    assert len((p.name + p.name_ext).encode("gb18030")) > 30
    assert loaded.card_keys.keys[KeyId.IRK] == bytes.fromhex("2740E46F1561AA1779B6EA4140F21137")


def test_card_keys_are_derived_and_masters_dropped() -> None:
    loaded = parse_personalisation(example_profile(2))
    expected = crypto.demo_masters(Algorithm.DES3).card_keys(F1, F2)
    assert dict(loaded.card_keys.keys) == expected
    masters = set(crypto.demo_masters(Algorithm.DES3).keys.values())

    def walk(obj: object) -> None:
        if isinstance(obj, bytes):
            assert obj not in masters
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name))
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, tuple | list):
            for v in obj:
                walk(v)

    walk(loaded)
    text = repr(loaded)
    assert "hidden" in text
    assert "123456" not in text
    assert "370402199001011238" not in text
    for key in expected.values():
        assert key.hex() not in text.lower()


def test_own_masters_object() -> None:
    data = example_profile(2)
    data["masters"] = {name: f"{i:02X}" * 16 for i, name in enumerate(KeyId.__members__)}
    loaded = parse_personalisation(data)
    assert loaded.card_keys.keys[KeyId.IRK] != bytes.fromhex("B9AEAFAA85C8B37A701DC8881E2C1C3B")


def test_defaults_for_optional_fields() -> None:
    data = example_profile(2)
    for name in ("protocol", "name_ext", "pin_tries", "dfs"):
        del data[name]
    p = parse_personalisation(data).profile
    assert p.protocol is TransmissionProtocol.T0
    assert p.pin_tries == 6
    assert p.name_ext == ""
    assert p.dfs == ()


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(example_profile(3), allow_unicode=True), encoding="utf-8")
    assert load_personalisation(path).profile.generation == 3
    yml = tmp_path / "card.yml"
    data = example_profile(1)
    data["protocol"] = "T=1"
    yml.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_personalisation(yml).profile.protocol is TransmissionProtocol.T1


def test_yaml_unquoted_number_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    text = yaml.safe_dump(example_profile(2), allow_unicode=True).replace(
        "region_code: '370402'", "region_code: 370402"
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PersonalisationError) as info:
        load_personalisation(path)
    assert info.value.field == "region_code"
    assert "quote it" in info.value.problem
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.json", None, "cannot read"),
        ("bad.json", "{ not json", "not valid JSON"),
        ("bad.yaml", "a: [1, 2", "not valid YAML"),
        ("list.json", "[1, 2]", "one object"),
        ("dup.json", '{"generation": 2, "generation": 3}', "duplicate key"),
    ],
)
def test_file_level_errors(tmp_path: Path, name: str, content: str | None, problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PersonalisationError) as info:
        load_personalisation(path)
    assert info.value.field == "(file)"
    assert problem in info.value.problem


Mutation = Callable[[dict[str, Any]], None]


def _set(field: str, value: object) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        d[field] = value

    return apply


def _del(field: str) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        del d[field]

    return apply


def _dfs(value: object) -> Mutation:
    return _set("dfs", value)


def _master(name: str, value: object) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        keys: dict[str, object] = {n: "00" * 16 for n in ("IRK", "UK", "PRK", "STK", "RKSSSE")}
        if value is None:
            del keys[name]
        else:
            keys[name] = value
        d["masters"] = keys

    return apply


BAD_FILES: list[tuple[str, Mutation, str, str]] = [
    ("extra field", _set("colour", "red"), "colour", "unknown field"),
    ("missing ssn", _del("ssn"), "ssn", "missing"),
    ("missing masters", _del("masters"), "masters", "missing"),
    ("generation string", _set("generation", "2"), "generation", "wrong type"),
    ("generation bool", _set("generation", True), "generation", "wrong type"),
    ("generation 4", _set("generation", 4), "generation", "unknown generation"),
    ("protocol T=2", _set("protocol", "T=2"), "protocol", "T=0"),
    ("protocol number", _set("protocol", 0), "protocol", "T=0"),
    ("region short", _set("region_code", "37040"), "region_code", "wrong length"),
    ("region letters", _set("region_code", "37040A"), "region_code", "digits"),
    ("region int", _set("region_code", 370402), "region_code", "wrong type"),
    ("serial short", _set("chip_serial", "1A2B3C"), "chip_serial", "wrong length"),
    ("serial not hex", _set("chip_serial", "1A2B3C4G"), "chip_serial", "hex"),
    ("suffix long", _set("card_id_suffix", "000000001"), "card_id_suffix", "wrong length"),
    ("card type two", _set("card_type", "12"), "card_type", "one character"),
    ("card type lower", _set("card_type", "a"), "card_type", "one character"),
    ("init org short", _set("init_org", "3704"), "init_org", "wrong length"),
    ("issue impossible", _set("issue_date", "20240230"), "issue_date", "impossible date"),
    ("issue month 13", _set("issue_date", "20241301"), "issue_date", "impossible date"),
    ("issue short", _set("issue_date", "2024011"), "issue_date", "wrong length"),
    ("expiry before issue", _set("expiry_date", "20230101"), "expiry_date", "after issue"),
    ("card number check", _set("card_number", "A00000012"), "card_number", "check character"),
    ("card number short", _set("card_number", "A0000001"), "card_number", "wrong length"),
    ("card number lower", _set("card_number", "a00000011"), "card_number", "0-9 and A-Z"),
    ("ssn check", _set("ssn", "370402199001011239"), "ssn", "GB 11643"),
    ("ssn short", _set("ssn", "37040219900101123"), "ssn", "wrong length"),
    ("ssn letter", _set("ssn", "3704021990010112A8"), "ssn", "digits"),
    ("ssn date", _set("ssn", "370402199002301238"), "ssn", "impossible birth date"),
    ("ssn number", _set("ssn", 370402199001011238), "ssn", "wrong type"),
    ("name empty", _set("name", ""), "name", "empty"),
    ("name long", _set("name", "张" * 16), "name", "too long"),
    ("name surrogate", _set("name", "张\ud800"), "name", "GB 18030"),
    ("name control", _set("name", "张\x00三"), "name", "control"),
    ("name list", _set("name", ["张三"]), "name", "wrong type"),
    ("name_ext long", _set("name_ext", "张" * 11), "name_ext", "too long"),
    ("sex 3", _set("sex", "3"), "sex", '"1"'),
    ("sex mismatch", _set("sex", "2"), "sex", "does not match"),
    ("nation 57", _set("nation", "57"), "nation", "unknown nationality"),
    ("nation 1 digit", _set("nation", "1"), "nation", "wrong length"),
    ("birthplace", _set("birthplace", "3704"), "birthplace", "wrong length"),
    ("birth date mismatch", _set("birth_date", "19900102"), "birth_date", "does not match"),
    ("birth date impossible", _set("birth_date", "19901301"), "birth_date", "impossible"),
    ("pin short", _set("pin", "123"), "pin", "4 to 12 digits"),
    ("pin long", _set("pin", "1234567890123"), "pin", "4 to 12 digits"),
    ("pin letters", _set("pin", "12a456"), "pin", "4 to 12 digits"),
    ("pin int", _set("pin", 123456), "pin", "wrong type"),
    ("pin tries 0", _set("pin_tries", 0), "pin_tries", "1 to 15"),
    ("pin tries 16", _set("pin_tries", 16), "pin_tries", "1 to 15"),
    ("pin tries str", _set("pin_tries", "6"), "pin_tries", "wrong type"),
    ("masters word", _set("masters", "prod"), "masters", '"demo"'),
    ("masters list", _set("masters", []), "masters", "wrong type"),
    ("master missing", _master("RKSSSE", None), "masters.RKSSSE", "missing"),
    ("master short", _master("IRK", "00" * 15), "masters.IRK", "wrong length"),
    ("master not hex", _master("UK", "ZZ" * 16), "masters.UK", "hex"),
    ("master extra", _master("XK", "00" * 16), "masters.XK", "unknown field"),
    ("dfs list", _dfs([]), "dfs", "wrong type"),
    ("dfs DF05", _dfs({"DF05": []}), "dfs.DF05", "unknown DF"),
    ("dfs not list", _dfs({"DF01": "0501"}), "dfs.DF01", "wrong type"),
    ("dfs triple", _dfs({"DF01": [["05", "01", "x"]]}), "dfs.DF01[0]", "pair"),
    ("dfs tag 3", _dfs({"DF01": [["005", "01"]]}), "dfs.DF01[0].tag", "2 hex digits"),
    ("dfs tag hex", _dfs({"DF01": [["0G", "01"]]}), "dfs.DF01[0].tag", "2 hex digits"),
    ("dfs tag 00", _dfs({"DF01": [["00", "01"]]}), "dfs.DF01[0].tag", "reserved"),
    ("dfs value odd", _dfs({"DF02": [["05", "123"]]}), "dfs.DF02[0].value", "hex"),
    ("dfs value hex", _dfs({"DF02": [["05", "XY"]]}), "dfs.DF02[0].value", "hex"),
    ("dfs value long", _dfs({"DF02": [["05", "00" * 254]]}), "dfs.DF02[0].value", "too long"),
    ("dfs value int", _dfs({"DF02": [["05", 5]]}), "dfs.DF02[0].value", "wrong type"),
    (
        "dfs duplicate",
        _dfs({"DF03": [["05", "01"], ["05", "02"]]}),
        "dfs.DF03[1].tag",
        "duplicate tag",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [pytest.param(m, f, p, id=i) for i, m, f, p in BAD_FILES],
)
def test_bad_field_is_named(mutate: Mutation, field: str, problem: str) -> None:
    data = example_profile(2)
    mutate(data)
    with pytest.raises(PersonalisationError) as info:
        parse_personalisation(data, source="card.json")
    assert info.value.field == field
    assert problem in info.value.problem
    assert f"field '{field}'" in str(info.value)
    assert "card.json" in str(info.value)


def test_name_ext_refused_on_generation_1() -> None:
    data = example_profile(1)
    data["name_ext"] = "四"
    with pytest.raises(PersonalisationError) as info:
        parse_personalisation(data)
    assert info.value.field == "name_ext"
    assert "generation 1" in info.value.problem


def test_name_outside_gbk_is_accepted_in_gb18030() -> None:
    data = example_profile(2)
    data["name"] = "张𠀀"  # CJK extension B: 4 bytes in GB 18030, not in GBK
    assert parse_personalisation(data).profile.name == "张𠀀"


def test_example_profile_unknown_generation() -> None:
    with pytest.raises(PersonalisationError) as info:
        example_profile(4)
    assert info.value.field == "generation"


def test_example_profile_returns_a_fresh_copy() -> None:
    first = example_profile(2)
    first["dfs"] = {}
    assert example_profile(2)["dfs"] != {}


# -- the PSAM file -------------------------------------------------------------------


def test_shipped_psam_example() -> None:
    config = load_psam_config(EXAMPLES / "psam.json")
    assert config.terminal_number == "370400000001"
    assert config.protocol is TransmissionProtocol.T0
    assert sorted(config.keys) == [0x01, 0x04, 0x06, 0x07, 0x0A, 0x81, 0x84, 0x86, 0x87, 0x8A]
    assert json.loads((EXAMPLES / "psam.json").read_text()) == example_psam()
    assert "4742088B" not in repr(config).upper()


def test_psam_own_masters_one_algorithm() -> None:
    keys = {n: "11" * 16 for n in ("IRK", "UK", "PRK", "STK", "RKSSSE")}
    config = parse_psam_config({"terminal_number": "370400000009", "masters": {"SM4": keys}})
    assert sorted(config.keys) == [0x81, 0x84, 0x86, 0x87, 0x8A]
    assert config.keys[0x81].master == bytes.fromhex("11" * 16)
    assert "11111111" not in repr(config)


PSAM_KEYS = {n: "22" * 16 for n in ("IRK", "UK", "PRK", "STK", "RKSSSE")}


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"masters": "demo"}, "terminal_number", "missing"),
        ({"terminal_number": "370400000001"}, "masters", "missing"),
        ({"terminal_number": "37040000001", "masters": "demo"}, "terminal_number", "12 digits"),
        ({"terminal_number": 370400000001, "masters": "demo"}, "terminal_number", "wrong type"),
        ({"terminal_number": "3704000000AB", "masters": "demo"}, "terminal_number", "12 digits"),
        (
            {"terminal_number": "370400000001", "masters": "demo", "protocol": "T=3"},
            "protocol",
            "T=0",
        ),
        ({"terminal_number": "370400000001", "masters": "demo", "x": 1}, "x", "unknown field"),
        ({"terminal_number": "370400000001", "masters": "real"}, "masters", '"demo"'),
        ({"terminal_number": "370400000001", "masters": {}}, "masters", "3DES, SM4"),
        (
            {"terminal_number": "370400000001", "masters": {"AES": PSAM_KEYS}},
            "masters.AES",
            "unknown algorithm",
        ),
        (
            {"terminal_number": "370400000001", "masters": {"3DES": {**PSAM_KEYS, "IRK": "22"}}},
            "masters.3DES.IRK",
            "wrong length",
        ),
        (
            {"terminal_number": "370400000001", "masters": {"SM4": {"IRK": "22" * 16}}},
            "masters.SM4.UK",
            "missing",
        ),
    ],
)
def test_bad_psam_field_is_named(data: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(PersonalisationError) as info:
        parse_psam_config(data)
    assert info.value.field == field
    assert problem in info.value.problem


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _error_of(parse: Callable[[Any], object], data: object) -> PersonalisationError | None:
    """None when the data loads; the PersonalisationError otherwise (any other error fails)."""
    try:
        parse(data)
    except PersonalisationError as exc:
        return exc
    return None


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(sorted(example_profile(2))) | st.text(max_size=8),
    value=json_values,
    gen=st.sampled_from([1, 2, 3]),
)
def test_any_field_value_loads_or_names_a_field(field: str, value: object, gen: int) -> None:
    data = example_profile(gen)
    data[field] = value
    error = _error_of(parse_personalisation, data)
    if error is not None:
        assert isinstance(error.field, str)
        assert error.problem
        assert f"field '{error.field}'" in str(error)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(st.text(max_size=12) | st.integers(), json_values, max_size=6))
def test_any_mapping_loads_or_names_a_field(data: dict[Any, object]) -> None:
    for parse in (parse_personalisation, parse_psam_config):
        error = _error_of(parse, data)
        assert error is not None  # a random mapping is never a whole valid file
        assert error.problem

"""The contract's known-answer vectors through both security modules, and their edges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from card_helpers import KAT_ATR, KAT_REGION, SM_KINDS, SmKind, rig, user_card

from cardsvc.card import (
    Diversification,
    KeyServiceSecurityModule,
    NoSecurityModule,
    PsamSecurityModule,
    SecurityModuleError,
    SscSession,
)
from cardsvc.card.security import parse_master_file
from cardsvc.crypto import Algorithm, KeyId, demo_masters
from reader_driver import CardChannel, InProcessBackend
from simulators.psam import Psam
from simulators.ssc_card import ScriptedRandom

R = bytes.fromhex("0102030405060708")
X = bytes.fromhex("1122334455667788")
P = bytes.fromhex("A1A2A3A4A5A6A7A8")
S = bytes.fromhex("B1B2B3B4B5B6B7B8")
BLOCK_CHALLENGE = bytes.fromhex("0807060504030201")
RELOAD_CHALLENGE = bytes.fromhex("1020304050607080")

VECTORS = {
    Algorithm.DES3: {
        "ext_c": "00B5FED6B477E200",
        "int_auth": "1E780E2489C56B7B",
        "block_mac": "5C2141AD",
        "unblock_mac": "9BAADB2B",
        "reload": "842400000C5362C25B748A50DDBA6213E8",
    },
    Algorithm.SM4: {
        "ext_c": "C350A32798AE1817",
        "int_auth": "A74D105C8C492222",
        "block_mac": "9E086078",
        "unblock_mac": "3204D365",
        "reload": "8424000014237EDB79DBB82B6B95EBF76F7734494124260F05",
    },
}
ALGS = list(VECTORS)


def div(alg: Algorithm) -> Diversification:
    return Diversification.for_card(alg, KAT_ATR, KAT_REGION)


def test_diversification_factors() -> None:
    d = div(Algorithm.DES3)
    assert d.f1 == bytes.fromhex("868437041A2B3C4D")
    assert d.f2 == bytes.fromhex("3337303430327378")


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("kind", SM_KINDS)
def test_known_answers(alg: Algorithm, kind: SmKind) -> None:
    v = VECTORS[alg]
    with rig() as r:
        sm = r.module(kind)
        d = div(alg)
        assert sm.external_auth_cryptogram(d, KeyId.RKSSSE, R, X).hex().upper() == v["ext_c"]
        answer = bytes.fromhex(v["int_auth"])
        assert sm.verify_internal_auth(d, P, S, answer)
        assert not sm.verify_internal_auth(d, P, S, bytes([answer[0] ^ 1]) + answer[1:])
        assert not sm.verify_internal_auth(d, S, P, answer)
        for ins, name in ((0x1E, "block_mac"), (0x18, "unblock_mac")):
            body = bytes((0x84, ins, 0x00, 0x00, 0x04))
            mac = sm.command_mac(d, KeyId.STK, BLOCK_CHALLENGE, body)
            assert mac.hex().upper() == v[name]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("kind", SM_KINDS)
def test_reload_pin_apdu_is_the_known_answer(alg: Algorithm, kind: SmKind) -> None:
    """The session's RELOAD PIN on the KAT card, with its challenge scripted."""
    generation = 2 if alg is Algorithm.DES3 else 3
    card = user_card(generation, random_source=ScriptedRandom(RELOAD_CHALLENGE))
    with rig(card) as r:
        session, conn = r.session(kind)
        assert session.atr == KAT_ATR
        session.reload_pin("654321")
        reload = next(a for a in conn.apdus if a[:2] == b"\x84\x24")
        assert reload.hex().upper() == VECTORS[alg]["reload"]
        session.verify_pin("654321")


def test_psam_key_indexes_and_terminal_number() -> None:
    with rig() as r:
        assert r.psam.terminal_number == "370400000001"
        before = r.sam_counter.count
        r.psam.external_auth_cryptogram(div(Algorithm.SM4), KeyId.UK, R, X)
        des_init = r.sam_counter.apdus[before]
    assert des_init[:4] == bytes.fromhex("BFDE4884")  # UK 04 | 80 for SM4
    assert des_init[5:] == div(Algorithm.SM4).f1 + div(Algorithm.SM4).f2 + R


def test_psam_open_costs_two_apdus_and_recovers_from_a_reset() -> None:
    backend = InProcessBackend(["SAM"])
    sam = Psam.demo()
    backend.insert(sam, "SAM")
    with backend.connect("SAM") as conn:
        module = PsamSecurityModule.open(CardChannel(conn))
        sam.reset()  # DF01 no longer selected: DES INIT answers 6985, the module reselects
        cryptogram = module.external_auth_cryptogram(div(Algorithm.DES3), KeyId.RKSSSE, R, X)
    assert cryptogram.hex().upper() == VECTORS[Algorithm.DES3]["ext_c"]


def test_a_psam_without_the_key_says_so() -> None:
    backend = InProcessBackend(["SAM"])
    only_3des = {"3DES": {k.name: demo_masters(Algorithm.DES3).keys[k].hex() for k in KeyId}}
    backend.insert(Psam.from_dict({"terminal_number": "370400000001", "masters": only_3des}), "SAM")
    with backend.connect("SAM") as conn:
        module = PsamSecurityModule.open(conn)  # a raw T=0 connection works too
        with pytest.raises(SecurityModuleError, match="SM4 key IRK") as caught:
            module.verify_internal_auth(div(Algorithm.SM4), P, S, bytes(8))
    assert caught.value.sw == 0x6A88


def test_a_user_card_is_not_a_psam() -> None:
    backend = InProcessBackend(["SAM"])
    backend.insert(user_card(2), "SAM")
    with backend.connect("SAM") as conn, pytest.raises(NoSecurityModule):
        PsamSecurityModule.open(CardChannel(conn))


def test_key_service_from_file(tmp_path: Path) -> None:
    data = {
        label: {k.name: demo_masters(alg).keys[k].hex() for k in KeyId}
        for label, alg in (("3DES", Algorithm.DES3), ("SM4", Algorithm.SM4))
    }
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    module = KeyServiceSecurityModule.from_file(path, "370400000009")
    assert module.terminal_number == "370400000009"
    assert "DES3" in repr(module)
    assert data["3DES"]["IRK"] not in repr(module)
    assert (
        module.external_auth_cryptogram(div(Algorithm.SM4), KeyId.RKSSSE, R, X).hex().upper()
        == (VECTORS[Algorithm.SM4]["ext_c"])
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "expected an object"),
        ({"DES": {}}, "unknown algorithm"),
        ({"3DES": "demo"}, "object of keys"),
        ({"3DES": {"IRK": "00"}}, r"3DES\.IRK must be 32 hex"),
        ({"3DES": {k.name: "zz" * 16 for k in KeyId}}, "not hex"),
        ({"3DES": {**{k.name: "00" * 16 for k in KeyId}, "XK": "00" * 16}}, "unknown keys"),
    ],
)
def test_key_file_errors_name_the_field(data: object, match: str) -> None:
    with pytest.raises(SecurityModuleError, match=match):
        parse_master_file(data)


def test_key_service_without_the_algorithm() -> None:
    module = KeyServiceSecurityModule([demo_masters(Algorithm.DES3)])
    with pytest.raises(SecurityModuleError, match="no SM4 masters"):
        module.verify_internal_auth(div(Algorithm.SM4), P, S, bytes(8))


def test_terminal_number_is_checked() -> None:
    with pytest.raises(SecurityModuleError, match="12 digits"):
        KeyServiceSecurityModule([], "1234")


def test_the_session_with_the_key_service_authenticates_every_generation() -> None:
    for generation in (1, 2, 3):
        with rig(user_card(generation)) as r:
            conn = r.connect()
            SscSession(conn, KeyServiceSecurityModule.demo()).internal_authenticate()

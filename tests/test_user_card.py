"""The simulated user card, command by command, with the contract's bytes (sections 2-4, 6)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from cardsvc import crypto
from cardsvc.crypto import Algorithm, KeyId
from simulators.personalisation import example_profile, load_personalisation
from simulators.ssc_card import ScriptedRandom, UserCard

EXAMPLES = Path(__file__).resolve().parent.parent / "simulators" / "examples"
SSSE = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
SELECT_SSSE = "00A404000F" + SSSE.hex()
VECTOR_ATR = bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
F1 = VECTOR_ATR[-8:]
F2 = bytes.fromhex("3337303430327378")
BLOCK_CHALLENGE = bytes.fromhex("0807060504030201")
RELOAD_CHALLENGE = bytes.fromhex("1020304050607080")
ALG = {2: Algorithm.DES3, 3: Algorithm.SM4}


def make(
    gen: int = 2, protocol: str = "T=0", rng: ScriptedRandom | None = None, **changes: Any
) -> UserCard:
    data = example_profile(gen)
    data["protocol"] = protocol
    data.update(changes)
    card = UserCard.from_profile(data, random_source=rng or ScriptedRandom())
    card.power_on()
    return card


def raw(apdu: str | bytes) -> bytes:
    return bytes.fromhex(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu


def tx(card: UserCard, apdu: str | bytes) -> tuple[bytes, int]:
    resp = card.transmit(raw(apdu))
    assert len(resp) >= 2
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def run(card: UserCard, apdu: str | bytes) -> tuple[bytes, int]:
    """What a terminal does: re-send on 6Cxx, fetch on 61xx."""
    cmd = raw(apdu)
    data, sw = tx(card, cmd)
    if sw >> 8 == 0x6C:
        data, sw = tx(card, cmd[:4] + bytes((sw & 0xFF,)))
    if sw >> 8 == 0x61:
        data, sw = tx(card, f"00C00000{sw & 0xFF:02X}")
    return data, sw


def card_keys(gen: int) -> dict[KeyId, bytes]:
    return crypto.demo_masters(ALG[gen]).card_keys(F1, F2)


def ext_auth_apdu(gen: int, kid: KeyId, challenge: bytes, x: bytes = b"\x11" * 8) -> str:
    alg = ALG[gen]
    c = crypto.cryptogram(alg, crypto.session_key(alg, card_keys(gen)[kid], challenge), x)
    return f"008200{kid:02X}10" + (c + x).hex()


def authenticate(card: UserCard, gen: int, kid: KeyId) -> int:
    challenge, sw = tx(card, "0084000008")
    assert sw == 0x9000
    return tx(card, ext_auth_apdu(gen, kid, challenge))[1]


def stk_apdu(gen: int, ins: int, challenge: bytes) -> bytes:
    return crypto.secure_command(
        ALG[gen], card_keys(gen)[KeyId.STK], challenge, bytes((0x84, ins, 0, 0)), b""
    )


def verify_apdu(pin: str) -> str:
    bcd = crypto.pin_to_bcd(pin)
    return f"00200000{len(bcd):02X}" + bcd.hex()


# -- ATR, power, construction ------------------------------------------------------------


def test_gen2_example_atr_is_the_contract_atr() -> None:
    card = UserCard.from_file(EXAMPLES / "gen2.json")
    assert card.atr == VECTOR_ATR
    assert card.power_on() == VECTOR_ATR
    assert card.reset() == VECTOR_ATR


def test_atr_of_another_region_and_serial() -> None:
    card = make(1)
    assert card.atr == bytes.fromhex("3B6D00000081534D97868437045E7A9C01")


def test_from_profile_accepts_a_loaded_personalisation() -> None:
    card = UserCard.from_profile(load_personalisation(EXAMPLES / "gen3.json"))
    assert card.state()["generation"] == 3


# -- SELECT and GET RESPONSE ----------------------------------------------------------------


@pytest.mark.parametrize(("gen", "alg"), [(1, 0x01), (2, 0x01), (3, 0x03)])
def test_select_ssse_t0_answers_611b_then_fci(gen: int, alg: int) -> None:
    card = make(gen)
    assert tx(card, SELECT_SSSE) == (b"", 0x611B)
    fci = bytes.fromhex("6F19840F") + SSSE + bytes.fromhex("A5069F0C038601") + bytes((alg,))
    assert tx(card, "00C000001B") == (fci, 0x9000)
    assert card.state()["current_df"] == "SSSE"


def test_select_ssse_t1_answers_directly() -> None:
    card = make(2, "T=1")
    data, sw = tx(card, SELECT_SSSE)
    assert sw == 0x9000
    assert data[:4] == bytes.fromhex("6F19840F")
    assert data[-1] == 0x01
    assert tx(card, "00C000001B") == (b"", 0x6985)  # nothing ever waits on T=1


def test_select_with_le_is_accepted() -> None:
    assert tx(make(), SELECT_SSSE + "00") == (b"", 0x611B)


def test_get_response_rules() -> None:
    card = make()
    assert tx(card, "00C0000008") == (b"", 0x6985)  # nothing waiting
    tx(card, SELECT_SSSE)
    assert tx(card, "00C0000010") == (b"", 0x6C1B)  # wrong Le: data keeps waiting
    assert tx(card, "00C0000000") == (b"", 0x6C1B)  # 00 = 256
    assert tx(card, "00C001001B") == (b"", 0x6A86)  # P1 wrong: discards
    assert tx(card, "00C000001B") == (b"", 0x6985)
    tx(card, SELECT_SSSE)
    tx(card, "0084000004")  # any other command discards waiting data
    assert tx(card, "00C000001B") == (b"", 0x6985)
    tx(card, SELECT_SSSE)
    assert tx(card, "00C00000021234") == (b"", 0x6700)
    assert card.state()["response_waiting"] == 0


@pytest.mark.parametrize("label", ["DF01", "DF02", "DF03", "DF04"])
def test_select_dfs_by_aid(label: str) -> None:
    card = make()
    aid = "D156000005" + f"{int(label[2:]) - 1:02X}"
    assert tx(card, "00A4040006" + aid) == (b"", 0x9000)
    assert card.state()["current_df"] == label


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A4040006D15600000504", 0x6A82),  # unknown AID
        ("00A404000F" + "00" * 15, 0x6A82),  # unknown name
        ("00A4040011" + "00" * 17, 0x6700),  # name longer than 16
        ("00A40400", 0x6700),  # no name
        ("00A404010F" + SSSE.hex(), 0x6A86),  # P2
        ("00A4080002EF05", 0x6A86),  # P1
        ("00A4020003EF0500", 0x6700),  # FID of 3 bytes
        ("00A4020002EF05", 0x6A82),  # no EF05 in the MF
        ("00A40200023F00", 0x6A82),  # P1=02 does not select the MF
    ],
)
def test_select_errors(apdu: str, sw: int) -> None:
    assert tx(make(), apdu) == (b"", sw)


def test_select_ef_in_current_df() -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, "00A4020002EF05") == (b"", 0x9000)
    assert card.state()["current_ef"] == "EF05"
    assert tx(card, "00A4000002EF06") == (b"", 0x9000)  # P1=00 accepted
    assert card.state()["current_ef"] == "EF06"
    assert tx(card, "00A4020002EF07") == (b"", 0x6A82)
    assert tx(card, "00A40000023F00") == (b"", 0x9000)
    assert card.state()["current_df"] == "MF"
    assert card.state()["current_ef"] is None


# -- READ RECORD -----------------------------------------------------------------------------


def test_read_record_all_addressing_modes() -> None:
    card = make()
    run(card, SELECT_SSSE)
    card_id = bytes.fromhex("0110370402D1560000051A2B3C4D00000001")
    assert tx(card, "00B2012C12") == (card_id, 0x9000)  # number 1 in SFI 05
    assert tx(card, "00B2012812") == (card_id, 0x9000)  # tag 01 in SFI 05
    assert card.state()["current_ef"] == "EF05"  # reached by SFI
    assert tx(card, "00B2070409") == (b"", 0x6C0B)  # tag 07 is 11 bytes with T and L
    assert tx(card, "00B207040B") == (b"\x07\x09A00000011", 0x9000)  # number 7, current EF
    assert tx(card, "00B207000B") == (b"\x07\x09A00000011", 0x9000)  # tag 07, current EF
    assert tx(card, "00B2033406") == (b"", 0x6C16)  # record 3 of EF06 is 4E, 22 bytes
    data, sw = tx(card, "00B2083014")
    assert sw == 0x9000
    assert data == b"\x08\x12370402199001011238"
    name, sw = run(card, "00B2093000")
    assert sw == 0x9000
    assert name == b"\x09\x1e" + "张三".encode("gbk") + bytes(26)
    assert run(card, "00B24E3000") == (b"\x4e\x14" + bytes(20), 0x9000)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (0x02, b"1"),
        (0x03, b"2.00"),
        (0x04, bytes.fromhex("370400000000000000000001")),
        (0x05, bytes.fromhex("20240101")),
        (0x06, bytes.fromhex("20340101")),
    ],
)
def test_ef05_contents(tag: int, value: bytes) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert run(card, f"00B2{tag:02X}2800") == (bytes((tag, len(value))) + value, 0x9000)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (0x0A, b"1"),
        (0x0B, b"\x01"),
        (0x0C, bytes.fromhex("370402")),
        (0x0D, bytes.fromhex("19900101")),
    ],
)
def test_ef06_contents(tag: int, value: bytes) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert run(card, f"00B2{tag:02X}3000") == (bytes((tag, len(value))) + value, 0x9000)


def test_gen1_has_no_4e_and_records_shift() -> None:
    card = make(1)
    run(card, SELECT_SSSE)
    assert run(card, "00B24E3000") == (b"", 0x6A83)
    assert run(card, "00B2033400") == (b"\x0a\x012", 0x9000)  # record 3 is the sex on gen 1
    assert run(card, "00B2032C00")[0][2:] == b"1.00"


def test_gen3_name_and_extension() -> None:
    card = make(3)
    run(card, SELECT_SSSE)
    assert authenticate(card, 3, KeyId.RKSSSE) == 0x9000
    name, _ = run(card, "00B2093000")
    ext, _ = run(card, "00B24E3000")
    full = (name[2:].rstrip(b"\x00") + ext[2:].rstrip(b"\x00")).decode("gb18030")
    assert full == "阿依古丽·艾合买提江·吐尔洪巴依"
    assert run(card, "00B2032C00")[0][2:] == b"3.00"


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B2010400", 0x6986),  # no current EF
        ("00B2010500", 0x6A86),  # P2 mode 101
        ("00B20102", 0x6A86),  # P2 mode 010
        ("00B201FC00", 0x6A86),  # SFI 31
        ("00B2013C00", 0x6A82),  # SFI 07 does not exist
        ("00B2002C00", 0x6A83),  # record 0
        ("00B2082C00", 0x6A83),  # record 8
        ("00B2992800", 0x6A83),  # no tag 99
        ("00B2012C0100", 0x6700),  # data in READ RECORD
    ],
)
def test_read_record_errors(apdu: str, sw: int) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, apdu) == (b"", sw)


def test_read_record_le_rules_t0_and_t1() -> None:
    t0 = make()
    run(t0, SELECT_SSSE)
    assert tx(t0, "00B2012C00") == (b"", 0x6C12)  # Le 00 = 256 on T=0
    assert tx(t0, "00B2012C") == (b"", 0x6C12)  # no Le = P3 00
    assert tx(t0, "00B2012C05") == (b"", 0x6C12)
    t1 = make(2, "T=1")
    run(t1, SELECT_SSSE)
    assert tx(t1, "00B2012C00")[1] == 0x9000  # Le 00 on T=1: what is there
    assert len(tx(t1, "00B2012C")[0]) == 18
    assert tx(t1, "00B2012C05") == (b"", 0x6C12)
    assert tx(t1, "00B2012C12")[1] == 0x9000


def test_gen3_ef06_needs_rksse() -> None:
    card = make(3)
    run(card, SELECT_SSSE)
    assert run(card, "00B2083000") == (b"", 0x6982)
    assert run(card, "00B2012C00")[1] == 0x9000  # EF05 stays free
    assert authenticate(card, 3, KeyId.UK) == 0x9000  # the wrong key does not open it
    assert run(card, "00B2083000") == (b"", 0x6982)
    assert authenticate(card, 3, KeyId.RKSSSE) == 0x9000
    assert run(card, "00B2083000") == (b"\x08\x12650102199512030028", 0x9000)


@pytest.mark.parametrize("gen", [1, 2])
def test_ef06_free_on_gen_1_and_2(gen: int) -> None:
    card = make(gen)
    run(card, SELECT_SSSE)
    assert run(card, "00B2083000")[1] == 0x9000


def test_df_records_need_the_pin() -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, "00A4040006D15600000503") == (b"", 0x9000)
    assert run(card, "00B2052800") == (b"", 0x6982)
    assert tx(card, verify_apdu("123456")) == (b"", 0x9000)
    assert run(card, "00B2052800") == (bytes.fromhex("050420240101"), 0x9000)
    assert run(card, "00B2012C00") == (bytes.fromhex("050420240101"), 0x9000)
    tx(card, "00A4040006D15600000500")  # DF01 of gen 2 example is empty
    assert run(card, "00B2012C00") == (b"", 0x6A83)


# -- UPDATE RECORD ---------------------------------------------------------------------------


def test_update_record_needs_uk_and_matching_tlv() -> None:
    card = make()
    run(card, SELECT_SSSE)
    new_expiry = "060420440101"
    assert tx(card, "00DC06280" + "6" + new_expiry) == (b"", 0x6982)
    assert authenticate(card, 2, KeyId.RKSSSE) == 0x9000
    assert tx(card, "00DC062806" + new_expiry) == (b"", 0x6982)  # UK, not RKSSSE
    assert authenticate(card, 2, KeyId.UK) == 0x9000
    assert tx(card, "00DC062806" + new_expiry) == (b"", 0x9000)
    assert run(card, "00B2062800") == (bytes.fromhex(new_expiry), 0x9000)
    assert tx(card, "00DC062C06" + "050420440101") == (b"", 0x6A80)  # tag mismatch
    assert tx(card, "00DC062C05" + "0603204401") == (b"", 0x6A80)  # length mismatch
    assert tx(card, "00DC062C03" + "060420") == (b"", 0x6A80)  # not a TLV
    assert tx(card, "00DC092C03" + "090100") == (b"", 0x6A83)  # record 9
    assert tx(card, "00DC992803" + "990100") == (b"", 0x6A83)  # tag 99
    assert tx(card, "00DC062C") == (b"", 0x6700)
    assert tx(card, "00DC063D03" + "060420") == (b"", 0x6A86)  # SFI 07, mode 101
    # a DF record, and EF06 by current EF
    tx(card, "00A4040006D15600000503")
    assert tx(card, "00DC052806" + "050420250101") == (b"", 0x9000)
    assert tx(card, "00A4040006D15600000503") == (b"", 0x9000)  # re-select keeps state
    assert tx(card, verify_apdu("123456"))[1] == 0x9000
    assert run(card, "00B2012C00") == (bytes.fromhex("050420250101"), 0x9000)


# -- GET CHALLENGE -----------------------------------------------------------------------------


@pytest.mark.parametrize("le", [4, 8, 16])
def test_get_challenge_lengths(le: int) -> None:
    card = make()
    data, sw = tx(card, f"00840000{le:02X}")
    assert (len(data), sw) == (le, 0x9000)
    assert card.state()["last_challenge"] == data.hex().upper()
    assert card.state()["challenge_valid"] is True


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [("0084000005", 0x6700), ("0084000000", 0x6700), ("00840000", 0x6700), ("0084010008", 0x6A86)],
)
def test_get_challenge_errors(apdu: str, sw: int) -> None:
    assert tx(make(), apdu) == (b"", sw)


def test_challenges_are_random_by_default() -> None:
    data = example_profile(2)
    card = UserCard.from_profile(data)
    card.power_on()
    a, b = tx(card, "0084000008")[0], tx(card, "0084000008")[0]
    assert a != b


def test_challenge_is_valid_for_the_next_command_only() -> None:
    card = make()
    run(card, SELECT_SSSE)
    challenge, _ = tx(card, "0084000008")
    apdu = ext_auth_apdu(2, KeyId.UK, challenge)
    tx(card, "00CA000000")  # even an unknown instruction consumes it
    assert card.state()["challenge_valid"] is False
    assert tx(card, apdu) == (b"", 0x6984)
    challenge, _ = tx(card, "0084000008")
    assert tx(card, ext_auth_apdu(2, KeyId.UK, challenge)) == (b"", 0x9000)
    assert tx(card, ext_auth_apdu(2, KeyId.UK, challenge)) == (b"", 0x6984)  # used up
    four, _ = tx(card, "0084000004")
    assert tx(card, ext_auth_apdu(2, KeyId.UK, four + four)) == (b"", 0x6984)  # 4 bytes: no
    challenge, _ = tx(card, "0084000008")
    card.reset()
    run(card, SELECT_SSSE)
    assert tx(card, ext_auth_apdu(2, KeyId.UK, challenge)) == (b"", 0x6984)


# -- EXTERNAL / INTERNAL AUTHENTICATE ----------------------------------------------------------


def test_external_authenticate_counter_per_key() -> None:
    card = make()
    run(card, SELECT_SSSE)
    for left in (2, 1, 0):
        tx(card, "0084000008")
        assert tx(card, "0082000A10" + "00" * 16) == (b"", 0x63C0 | left)
    assert card.state()["key_tries_left"]["0A"] == 0  # type: ignore[index]
    assert authenticate(card, 2, KeyId.RKSSSE) == 0x6983  # blocked, even when right
    card.reset()
    run(card, SELECT_SSSE)
    assert authenticate(card, 2, KeyId.RKSSSE) == 0x6983  # persistent
    assert authenticate(card, 2, KeyId.UK) == 0x9000  # other keys have their own counter


def test_external_authenticate_success_resets_counter() -> None:
    card = make()
    run(card, SELECT_SSSE)
    tx(card, "0084000008")
    assert tx(card, "0082000410" + "00" * 16) == (b"", 0x63C2)
    assert authenticate(card, 2, KeyId.UK) == 0x9000
    assert card.state()["key_tries_left"]["04"] == 3  # type: ignore[index]
    assert card.state()["authenticated_keys"] == ["04"]
    tx(card, "0084000008")
    assert tx(card, "0082000410" + "00" * 16) == (b"", 0x63C2)
    assert card.state()["authenticated_keys"] == []  # a failure drops the key's state


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0082000510" + "00" * 16, 0x6A88),  # no key 05
        ("0082000A08" + "00" * 8, 0x6700),
        ("0082010A10" + "00" * 16, 0x6A86),
        ("0082000A10" + "00" * 16, 0x6984),  # no challenge
    ],
)
def test_external_authenticate_errors(apdu: str, sw: int) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, apdu) == (b"", sw)


@pytest.mark.parametrize(("gen", "answer"), [(2, "1E780E2489C56B7B"), (3, "A74D105C8C492222")])
@pytest.mark.parametrize("kid", ["00", "01"])
def test_internal_authenticate_known_answer(gen: int, answer: str, kid: str) -> None:
    card = make(gen)
    run(card, SELECT_SSSE)
    apdu = f"008800{kid}10A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8"
    assert tx(card, apdu) == (b"", 0x6108)
    assert tx(card, "00C0000008") == (bytes.fromhex(answer), 0x9000)
    t1 = make(gen, "T=1")
    run(t1, SELECT_SSSE)
    assert tx(t1, apdu) == (bytes.fromhex(answer), 0x9000)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0088000410" + "00" * 16, 0x6A88),
        ("0088000108" + "00" * 8, 0x6700),
        ("0088010110" + "00" * 16, 0x6A86),
    ],
)
def test_internal_authenticate_errors(apdu: str, sw: int) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, apdu) == (b"", sw)


@pytest.mark.parametrize(
    "apdu",
    [
        "0088000110" + "00" * 16,
        "0082000A10" + "00" * 16,
        "0020000003123456",
        "00200000",
        "805E0100061234FF123456",
        "842400000C" + "00" * 12,
        "841E000004" + "00" * 4,
    ],
)
def test_security_commands_need_the_ssse(apdu: str) -> None:
    card = make()  # current DF is the MF after power-on
    assert tx(card, apdu) == (b"", 0x6985)


# -- VERIFY / CHANGE PIN / RELOAD PIN ------------------------------------------------------------


def test_verify_right_wrong_query_and_block() -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, "0020000000") == (b"", 0x63C6)  # query: not verified, 6 left
    assert tx(card, "00200000") == (b"", 0x63C6)  # case 1 is the query too
    assert tx(card, verify_apdu("123456")) == (b"", 0x9000)
    assert tx(card, "0020000000") == (b"", 0x9000)
    for left in range(5, -1, -1):
        assert tx(card, verify_apdu("654321")) == (b"", 0x63C0 | left)
        assert card.state()["pin_verified"] is False
    assert tx(card, verify_apdu("123456")) == (b"", 0x6983)
    assert tx(card, "0020000000") == (b"", 0x6983)
    state = card.state()
    assert (state["pin_tries_left"], state["pin_blocked"]) == (0, True)
    card.power_off()
    card.power_on()
    run(card, SELECT_SSSE)
    assert tx(card, verify_apdu("123456")) == (b"", 0x6983)  # persistent


def test_right_pin_resets_the_counter() -> None:
    card = make()
    run(card, SELECT_SSSE)
    tx(card, verify_apdu("1111"))
    assert card.state()["pin_tries_left"] == 5
    tx(card, verify_apdu("123456"))
    assert card.state()["pin_tries_left"] == 6


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0020000003123A56", 0x6A80),  # not BCD
        ("00200000021F23", 0x6A80),
        ("002000000212FF", 0x6A80),  # 2 digits
        ("0020000003FFFFFF", 0x6A80),
        ("002000000112", 0x6700),  # 1 byte
        ("002000000712345678901234", 0x6700),  # 7 bytes
        ("0020000004", 0x6700),  # Lc=4 without data
        ("0020000103123456", 0x6A86),
    ],
)
def test_verify_format_errors_do_not_count(apdu: str, sw: int) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, apdu) == (b"", sw)
    assert card.state()["pin_tries_left"] == 6


def test_odd_length_pin() -> None:
    card = make(pin="12345")
    run(card, SELECT_SSSE)
    assert tx(card, "002000000312345F") == (b"", 0x9000)
    assert tx(card, "0020000003123456") == (b"", 0x63C5)


def test_change_pin() -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, "805E0100061234FF123456") == (b"", 0x63C5)  # wrong old counts
    assert tx(card, "805E010007123456FF2468AC") == (b"", 0x6A80)  # new not BCD
    assert tx(card, "805E010006123456123456") == (b"", 0x6A80)  # no FF
    assert tx(card, "805E010005123456FF12") == (b"", 0x6A80)  # new too short
    assert tx(card, "805E0100041234FF12") == (b"", 0x6700)
    assert tx(card, "805E0000061234FF123456") == (b"", 0x6A86)
    assert card.state()["pin_tries_left"] == 5
    assert tx(card, "805E010007123456FF13579F") == (b"", 0x9000)
    assert card.state()["pin_tries_left"] == 6
    assert card.state()["pin_verified"] is True
    assert tx(card, verify_apdu("123456")) == (b"", 0x63C5)
    assert tx(card, verify_apdu("13579")) == (b"", 0x9000)


def test_change_pin_when_blocked() -> None:
    card = make(pin_tries=1)
    run(card, SELECT_SSSE)
    assert tx(card, verify_apdu("0000")) == (b"", 0x63C0)
    assert tx(card, "805E010007123456FF135790") == (b"", 0x6983)


@pytest.mark.parametrize(
    ("gen", "vector"),
    [
        (2, "842400000C5362C25B748A50DDBA6213E8"),
        (3, "8424000014237EDB79DBB82B6B95EBF76F7734494124260F05"),
    ],
)
def test_reload_pin_known_answer_unblocks(gen: int, vector: str) -> None:
    rng = ScriptedRandom()
    card = make(gen, rng=rng)
    run(card, SELECT_SSSE)
    limit = card.state()["pin_try_limit"]
    assert isinstance(limit, int)
    for _ in range(limit):
        tx(card, verify_apdu("0000"))
    assert card.state()["pin_blocked"] is True
    rng.push(RELOAD_CHALLENGE)
    assert tx(card, "0084000008") == (RELOAD_CHALLENGE, 0x9000)
    assert tx(card, vector) == (b"", 0x9000)
    state = card.state()
    assert (state["pin_blocked"], state["pin_tries_left"], state["pin_verified"]) == (
        False,
        limit,
        False,
    )
    assert tx(card, verify_apdu("654321")) == (b"", 0x9000)


def test_reload_pin_errors() -> None:
    rng = ScriptedRandom()
    card = make(rng=rng)
    run(card, SELECT_SSSE)
    vector = "842400000C5362C25B748A50DDBA6213E8"
    assert tx(card, vector) == (b"", 0x6984)  # no challenge
    rng.push(RELOAD_CHALLENGE)
    tx(card, "0084000008")
    assert tx(card, vector[:-2] + "E9") == (b"", 0x6988)  # wrong MAC
    tx(card, "0084000008")
    assert tx(card, vector) == (b"", 0x6988)  # another challenge: wrong MAC
    tx(card, "0084000008")
    assert tx(card, "842400000B" + "00" * 11) == (b"", 0x6700)  # 7 bytes is no block
    assert tx(card, "8424010008" + "00" * 8) == (b"", 0x6A86)
    # a right MAC over a malformed PIN block
    challenge, _ = tx(card, "0084000008")
    keys = card_keys(2)
    bad_block = crypto.encrypt(Algorithm.DES3, keys[KeyId.PRK], bytes.fromhex("0312FFFF80000000"))
    apdu = crypto.secure_command(
        Algorithm.DES3, keys[KeyId.PRK], challenge, bytes.fromhex("84240000"), bad_block
    )
    assert tx(card, apdu) == (b"", 0x6A80)
    assert tx(card, verify_apdu("123456")) == (b"", 0x9000)  # PIN unchanged


# -- APPLICATION BLOCK / UNBLOCK, CARD BLOCK ----------------------------------------------------


@pytest.mark.parametrize(
    ("gen", "block_mac", "unblock_mac"),
    [(2, "5C2141AD", "9BAADB2B"), (3, "9E086078", "3204D365")],
)
def test_block_and_unblock_known_answers(gen: int, block_mac: str, unblock_mac: str) -> None:
    rng = ScriptedRandom()
    card = make(gen, rng=rng)
    run(card, SELECT_SSSE)
    rng.push(BLOCK_CHALLENGE)
    assert tx(card, "0084000008") == (BLOCK_CHALLENGE, 0x9000)
    assert tx(card, "841E000004" + block_mac) == (b"", 0x9000)
    assert card.state()["application_blocked"] is True
    assert tx(card, SELECT_SSSE) == (b"", 0x6283)
    rng.push(BLOCK_CHALLENGE)
    tx(card, "0084000008")
    assert tx(card, "8418000004" + unblock_mac) == (b"", 0x9000)
    assert tx(card, SELECT_SSSE) == (b"", 0x611B)


def test_blocked_application_behaviour() -> None:
    rng = ScriptedRandom()
    card = make(rng=rng)
    run(card, SELECT_SSSE)
    assert tx(card, verify_apdu("123456"))[1] == 0x9000
    challenge, _ = tx(card, "0084000008")
    assert tx(card, stk_apdu(2, 0x1E, challenge)) == (b"", 0x9000)
    assert card.state()["pin_verified"] is False  # blocking clears the security state
    card.reset()
    assert tx(card, SELECT_SSSE) == (b"", 0x6283)  # persistent, no data
    assert card.state()["current_df"] == "SSSE"
    assert run(card, "00B2012C00")[1] == 0x9000  # EF05 still readable (by SFI)
    assert run(card, "00B2032C00")[0][2:] == b"2.00"
    assert tx(card, "00A4020002EF05") == (b"", 0x9000)
    assert run(card, "00B2070400") == (b"\x07\x09A00000011", 0x9000)
    assert tx(card, "00B2083000") == (b"", 0x6985)  # EF06 by SFI
    assert tx(card, "00A4020002EF06") == (b"", 0x9000)  # SELECT is allowed ...
    for apdu in (
        "00B2010400",  # ... but reading EF06 is not
        verify_apdu("123456"),
        "0020000000",
        "0088000110" + "00" * 16,
        "0082000410" + "00" * 16,
        "00DC062C06060420440101",
        "805E010007123456FF135790",
        "841E000004" + "00" * 4,
        "8416000004" + "00" * 4,
        "00B2FF0500",  # a READ RECORD with a bad P2 is refused as well
    ):
        assert tx(card, apdu) == (b"", 0x6985), apdu
    assert tx(card, "00A4040006D15600000500") == (b"", 0x6283)  # DFs of the blocked app
    assert tx(card, "0084000004")[1] == 0x9000
    assert tx(card, "00C0000008") == (b"", 0x6985)  # admitted: nothing waiting
    challenge, _ = tx(card, "0084000008")
    assert tx(card, "8418000004" + "00" * 4) == (b"", 0x6988)
    assert tx(card, "8418000004" + "00" * 4) == (b"", 0x6984)
    challenge, _ = tx(card, "0084000008")
    assert tx(card, stk_apdu(2, 0x18, challenge)) == (b"", 0x9000)
    assert tx(card, SELECT_SSSE) == (b"", 0x611B)
    assert tx(card, verify_apdu("123456")) == (b"", 0x9000)


def test_unblock_of_unblocked_application_is_ok() -> None:
    card = make()
    run(card, SELECT_SSSE)
    challenge, _ = tx(card, "0084000008")
    assert tx(card, stk_apdu(2, 0x18, challenge)) == (b"", 0x9000)


@pytest.mark.parametrize("ins", [0x1E, 0x18, 0x16])
def test_stk_commands_check_mac_challenge_and_length(ins: int) -> None:
    card = make()
    run(card, SELECT_SSSE)
    assert tx(card, f"84{ins:02X}000004" + "00" * 4) == (b"", 0x6984)
    tx(card, "0084000008")
    assert tx(card, f"84{ins:02X}000004" + "00" * 4) == (b"", 0x6988)
    tx(card, "0084000008")
    assert tx(card, f"84{ins:02X}000005" + "00" * 5) == (b"", 0x6700)
    assert tx(card, f"84{ins:02X}010004" + "00" * 4) == (b"", 0x6A86)
    assert tx(card, f"00{ins:02X}000004" + "00" * 4) == (b"", 0x6E00)
    state = card.state()
    assert (state["application_blocked"], state["card_blocked"]) == (False, False)


def test_card_block_is_permanent() -> None:
    card = make()
    run(card, SELECT_SSSE)
    challenge, _ = tx(card, "0084000008")
    assert tx(card, stk_apdu(2, 0x16, challenge)) == (b"", 0x9000)
    for apdu in (SELECT_SSSE, "0084000008", "00C0000000", "00", "", "FFFFFFFF", "00CA000000"):
        assert tx(card, apdu) == (b"", 0x9303)
    card.power_off()
    card.power_on()
    assert tx(card, SELECT_SSSE) == (b"", 0x9303)
    assert card.reset() == VECTOR_ATR
    assert tx(card, "00A40000023F00") == (b"", 0x9303)
    assert card.state()["card_blocked"] is True


def test_card_block_refused_while_application_blocked() -> None:
    card = make()
    run(card, SELECT_SSSE)
    challenge, _ = tx(card, "0084000008")
    tx(card, stk_apdu(2, 0x1E, challenge))
    challenge, _ = tx(card, "0084000008")
    assert tx(card, stk_apdu(2, 0x16, challenge)) == (b"", 0x6985)


# -- security state lifetime ---------------------------------------------------------------------


def _authenticated(card: UserCard) -> None:
    run(card, SELECT_SSSE)
    assert tx(card, verify_apdu("123456"))[1] == 0x9000
    assert authenticate(card, 2, KeyId.UK) == 0x9000
    state = card.state()
    assert state["pin_verified"] is True
    assert state["authenticated_keys"] == ["04"]


@pytest.mark.parametrize("how", ["reset", "power_off", "select_mf"])
def test_security_state_cleared(how: str) -> None:
    card = make()
    _authenticated(card)
    if how == "reset":
        card.reset()
    elif how == "power_off":
        card.power_off()
        assert card.state()["powered"] is False
        card.power_on()
    else:
        assert tx(card, "00A40000023F00") == (b"", 0x9000)
    state = card.state()
    assert state["pin_verified"] is False
    assert state["authenticated_keys"] == []
    assert state["current_df"] == "MF"
    run(card, SELECT_SSSE)
    assert tx(card, "0020000000") == (b"", 0x63C6)
    tx(card, "00A4040006D15600000503")
    assert run(card, "00B2052800") == (b"", 0x6982)
    assert tx(card, "00DC052806" + "050420250101") == (b"", 0x6982)


def test_selecting_a_df_keeps_the_security_state() -> None:
    card = make()
    _authenticated(card)
    tx(card, "00A4040006D15600000503")
    assert card.state()["pin_verified"] is True
    assert run(card, "00B2052800")[1] == 0x9000


# -- OS-level behaviour -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00CA000000", 0x6D00),  # unknown INS
        ("80B2012C00", 0x6E00),  # READ RECORD under CLA 80
        ("0024000000", 0x6E00),  # RELOAD PIN is CLA 84
        ("00B201", 0x6700),  # too short
        ("", 0x6700),
        ("00A404000F7378", 0x6700),  # Lc larger than the data
        ("00A40400027378313233", 0x6700),  # Lc smaller than the data (+Le)
    ],
)
def test_os_status_words(apdu: str, sw: int) -> None:
    assert tx(make(), apdu) == (b"", sw)


def test_internal_error_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    def broken(n: int) -> bytes:
        raise RuntimeError("entropy ran out")

    card = UserCard.from_profile(example_profile(2), random_source=broken)
    with caplog.at_level(logging.ERROR, logger="simulators.card_os"):
        assert card.transmit(bytes.fromhex("0084000008")) == bytes.fromhex("6F00")
    assert "internal error" in caplog.text
    assert tx(card, "0084000008")[1] == 0x6F00
    assert tx(card, SELECT_SSSE) == (b"", 0x611B)  # the card goes on working


def test_scripted_random_of_wrong_length_is_an_internal_error() -> None:
    card = make(rng=ScriptedRandom(b"\x01\x02"))
    assert tx(card, "0084000008") == (b"", 0x6F00)


def test_state_is_json_and_hides_secrets() -> None:
    card = make()
    _authenticated(card)
    challenge, _ = tx(card, "0084000008")
    state = card.state()
    text = json.dumps(state)
    assert state["ssn_masked"] == "370402********1238"
    assert "370402199001011238" not in text
    assert "123456" not in text
    for key in card_keys(2).values():
        assert key.hex().upper() not in text.upper()
    assert state["last_challenge"] == challenge.hex().upper()
    assert state["challenge_valid"] is True
    assert {
        "generation",
        "algorithm",
        "card_number",
        "protocol",
        "pin_tries_left",
        "pin_try_limit",
        "pin_blocked",
        "pin_verified",
        "application_blocked",
        "card_blocked",
        "authenticated_keys",
        "current_df",
        "current_ef",
    } <= set(state)
    assert (state["generation"], state["algorithm"], state["protocol"]) == (2, "3DES", "T=0")
    assert make(3, "T=1").state()["algorithm"] == "SM4"


def test_concurrent_transmit_is_serialised() -> None:
    card = make()
    run(card, SELECT_SSSE)
    errors: list[str] = []

    def worker() -> None:
        for _ in range(100):
            resp = card.transmit(bytes.fromhex("00B2012C12"))
            if resp[-2:] != b"\x90\x00":
                errors.append(resp.hex())
            card.state()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

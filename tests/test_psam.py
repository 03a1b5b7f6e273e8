"""The simulated PSAM (contract section 5), alone and with user cards in the section-9 flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardsvc import crypto
from cardsvc.crypto import Algorithm, KeyId
from simulators.base import SimulatedCard
from simulators.card_os import TransmissionProtocol
from simulators.personalisation import example_profile
from simulators.psam import Psam, example_psam, key_index
from simulators.ssc_card import ScriptedRandom, UserCard

EXAMPLES = Path(__file__).resolve().parent.parent / "simulators" / "examples"
PSAM_ATR = bytes.fromhex("3B6D00000081534D5053414D0000000001")
SELECT_DF01 = "00A4040006D15600000590"
SSSE = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
F1 = bytes.fromhex("868437041A2B3C4D")
F2 = bytes.fromhex("3337303430327378")
P = bytes.fromhex("A1A2A3A4A5A6A7A8")
S = bytes.fromhex("B1B2B3B4B5B6B7B8")


def raw(apdu: str | bytes) -> bytes:
    return bytes.fromhex(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu


def tx(card: SimulatedCard, apdu: str | bytes) -> tuple[bytes, int]:
    resp = card.transmit(raw(apdu))
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def run(card: SimulatedCard, apdu: str | bytes) -> tuple[bytes, int]:
    """A T=0 terminal: re-send on 6Cxx, GET RESPONSE on 61xx."""
    cmd = raw(apdu)
    data, sw = tx(card, cmd)
    if sw >> 8 == 0x6C:
        data, sw = tx(card, cmd[:4] + bytes((sw & 0xFF,)))
    if sw >> 8 == 0x61:
        data, sw = tx(card, f"00C00000{sw & 0xFF:02X}")
    return data, sw


def psam(protocol: str = "T=0") -> Psam:
    card = Psam.from_dict(
        {"terminal_number": "370400000001", "protocol": protocol, "masters": "demo"}
    )
    assert card.power_on() == PSAM_ATR
    return card


def des_init(sam: Psam, kidx: int, f1: bytes, f2: bytes, r: bytes) -> int:
    return tx(sam, f"BFDE48{kidx:02X}18" + (f1 + f2 + r).hex())[1]


# -- the PSAM alone ---------------------------------------------------------------------------


def test_atr_and_shipped_file() -> None:
    sam = Psam.from_file(EXAMPLES / "psam.json")
    assert sam.atr == PSAM_ATR
    assert sam.reset() == PSAM_ATR
    assert sam.terminal_number == "370400000001"
    assert json.loads((EXAMPLES / "psam.json").read_text()) == example_psam()


def test_select_df01() -> None:
    sam = psam()
    assert tx(sam, SELECT_DF01) == (b"", 0x9000)
    assert sam.state()["current_df"] == "DF01"
    assert tx(sam, "00A4040006D15600000591") == (b"", 0x6A82)
    assert tx(sam, "00A4040106D15600000590") == (b"", 0x6A86)
    assert tx(sam, "00A40400") == (b"", 0x6700)
    assert tx(sam, "00A40000023F00") == (b"", 0x9000)
    assert sam.state()["current_df"] == "MF"


def test_read_terminal_number() -> None:
    sam = psam()
    assert tx(sam, "00B0960006") == (bytes.fromhex("370400000001"), 0x9000)
    assert tx(sam, "00B0960005") == (b"", 0x6C06)
    assert tx(sam, "00B0960000") == (b"", 0x6C06)
    assert tx(sam, "00B0960204") == (bytes.fromhex("00000001"), 0x9000)  # offset 2
    assert tx(sam, "00B0960606") == (b"", 0x6A86)  # offset past the end
    assert tx(sam, "00B0970006") == (b"", 0x6A82)  # SFI 17
    assert tx(sam, "00B0F60006") == (b"", 0x6A86)  # P1 bits 7-6 set
    assert tx(sam, SELECT_DF01)[1] == 0x9000
    assert tx(sam, "00B0960006")[1] == 0x9000  # EF16 lives in the MF: readable from DF01


def test_read_binary_of_current_ef() -> None:
    sam = psam()
    assert tx(sam, "00B0000006") == (b"", 0x6986)
    assert tx(sam, "00A40000020016") == (b"", 0x9000)
    assert tx(sam, "00B0000006") == (bytes.fromhex("370400000001"), 0x9000)
    assert tx(sam, "00B0000303") == (bytes.fromhex("000001"), 0x9000)
    assert tx(sam, "00A40000020017") == (b"", 0x6A82)
    assert tx(sam, "00B00000020000") == (b"", 0x6700)


def test_t1_psam_answers_directly() -> None:
    sam = psam("T=1")
    assert sam.protocol is TransmissionProtocol.T1
    tx(sam, SELECT_DF01)
    assert des_init(sam, 0x01, F1, F2, P) == 0x9000
    assert tx(sam, "80FA000008" + S.hex()) == (bytes.fromhex("1E780E2489C56B7B"), 0x9000)


@pytest.mark.parametrize(
    ("alg", "answer"), [(Algorithm.DES3, "1E780E2489C56B7B"), (Algorithm.SM4, "A74D105C8C492222")]
)
def test_internal_authenticate_check_vector(alg: Algorithm, answer: str) -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    assert des_init(sam, key_index(alg, KeyId.IRK), F1, F2, P) == 0x9000
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6108)
    assert tx(sam, "00C0000008") == (bytes.fromhex(answer), 0x9000)


@pytest.mark.parametrize(
    ("alg", "answer"), [(Algorithm.DES3, "00B5FED6B477E200"), (Algorithm.SM4, "C350A32798AE1817")]
)
def test_external_authenticate_cryptogram_vector(alg: Algorithm, answer: str) -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    r = bytes.fromhex("0102030405060708")
    assert des_init(sam, key_index(alg, KeyId.RKSSSE), F1, F2, r) == 0x9000
    assert run(sam, "80FA0000081122334455667788") == (bytes.fromhex(answer), 0x9000)


@pytest.mark.parametrize(
    ("alg", "block", "unblock"),
    [(Algorithm.DES3, "5C2141AD", "9BAADB2B"), (Algorithm.SM4, "9E086078", "3204D365")],
)
def test_mac_vectors(alg: Algorithm, block: str, unblock: str) -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    assert des_init(sam, key_index(alg, KeyId.STK), F1, F2, bytes(8)) == 0x9000
    assert tx(sam, "80FA05000D0807060504030201841E000004") == (b"", 0x6104)
    assert tx(sam, "00C0000004") == (bytes.fromhex(block), 0x9000)
    assert run(sam, "80FA05000D08070605040302018418000004") == (bytes.fromhex(unblock), 0x9000)


@pytest.mark.parametrize(
    ("alg", "vector"),
    [
        (Algorithm.DES3, "842400000C5362C25B748A50DDBA6213E8"),
        (Algorithm.SM4, "8424000014237EDB79DBB82B6B95EBF76F7734494124260F05"),
    ],
)
def test_reload_pin_apdu_built_through_the_psam(alg: Algorithm, vector: str) -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    assert des_init(sam, key_index(alg, KeyId.PRK), F1, F2, bytes(8)) == 0x9000
    block = crypto.pin_block(alg, "654321")
    enc, sw = run(sam, f"80FA0100{len(block):02X}" + block.hex())
    assert sw == 0x9000
    header = bytes.fromhex("84240000") + bytes((len(enc) + 4,))
    body = bytes.fromhex("1020304050607080") + header + enc
    mac, sw = run(sam, f"80FA0500{len(body):02X}" + body.hex())
    assert sw == 0x9000
    assert (header + enc + mac).hex().upper() == vector


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("80FA000008" + S.hex(), 0x6985),  # no DES INIT
        ("80FA010008" + S.hex(), 0x6985),
        ("80FA05000C" + "00" * 12, 0x6985),
        ("80FA020008" + S.hex(), 0x6A86),  # unknown operation
        ("80FA000108" + S.hex(), 0x6A86),
        ("00FA000008" + S.hex(), 0x6E00),
        ("80DE480118" + "00" * 24, 0x6E00),
        ("80CA000000", 0x6D00),
    ],
)
def test_crypt_without_session_and_bad_commands(apdu: str, sw: int) -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    assert tx(sam, apdu) == (b"", sw)


def test_des_init_checks() -> None:
    sam = psam()
    f = (F1 + F2 + P).hex()
    assert tx(sam, "BFDE480118" + f) == (b"", 0x6985)  # DF01 not selected
    tx(sam, SELECT_DF01)
    assert tx(sam, "BFDE470118" + f) == (b"", 0x6A86)  # usage byte must be 48
    assert tx(sam, "BFDE480218" + f) == (b"", 0x6A88)  # no key index 02
    assert tx(sam, "BFDE480510" + f[:32]) == (b"", 0x6700)
    assert tx(sam, "BFDE480117" + f[:46]) == (b"", 0x6700)
    assert tx(sam, "BFDE480118" + f) == (b"", 0x9000)
    state = sam.state()
    assert (state["des_init_active"], state["des_init_key_index"]) == (True, "01")
    assert tx(sam, "BFDE488218" + f) == (b"", 0x6A88)  # a refused DES INIT ends the session
    assert sam.state()["des_init_active"] is False
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6985)


def test_session_lifetime_and_crypt_lengths() -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    assert des_init(sam, 0x81, F1, F2, P) == 0x9000
    assert tx(sam, "80FA000007" + "00" * 7) == (b"", 0x6700)
    assert tx(sam, "80FA010008" + "00" * 8) == (b"", 0x6700)  # SM4 blocks are 16 bytes
    assert tx(sam, "80FA010010" + "00" * 16) == (b"", 0x6110)
    assert tx(sam, "80FA050007" + "00" * 7) == (b"", 0x6700)
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6108)  # the session serves many
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6108)
    sam.reset()
    tx(sam, SELECT_DF01)
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6985)
    assert des_init(sam, 0x81, F1, F2, P) == 0x9000
    tx(sam, SELECT_DF01)  # SELECT ends the session too
    assert tx(sam, "80FA000008" + S.hex()) == (b"", 0x6985)


def test_state_never_shows_keys() -> None:
    sam = psam()
    tx(sam, SELECT_DF01)
    des_init(sam, 0x0A, F1, F2, P)
    text = json.dumps(sam.state())
    assert "370400000001" in text
    for alg in Algorithm:
        for master in crypto.demo_masters(alg).keys.values():
            assert master.hex().upper() not in text.upper()
    assert "0A" in sam.state()["key_indexes"]  # type: ignore[operator]


# -- section 9: a terminal's basic read, card and PSAM together ----------------------------------


def basic_read(card: UserCard, sam: Psam) -> dict[int, bytes]:
    """Section 9 steps 1-5, as a counter terminal runs them; returns the records by tag."""
    atr = card.power_on()
    sam.power_on()
    assert run(sam, SELECT_DF01) == (b"", 0x9000)
    fci, sw = run(card, "00A404000F" + SSSE.hex())
    assert sw == 0x9000
    alg = Algorithm(fci[-1])
    high = 0x80 if alg is Algorithm.SM4 else 0x00

    # internal authentication through the PSAM
    p, s = bytes.fromhex("0F1E2D3C4B5A6978"), bytes.fromhex("8877665544332211")
    answer, sw = run(card, "0088000110" + (p + s).hex())
    assert sw == 0x9000
    # read region code from the card id code for F2
    card_id, sw = run(card, "00B2012800")
    assert sw == 0x9000
    f1 = atr[-8:]
    f2 = card_id[2:5].hex().encode("ascii") + b"sx"
    assert des_init(sam, high | KeyId.IRK, f1, f2, p) == 0x9000
    expected, sw = run(sam, "80FA000008" + s.hex())
    assert sw == 0x9000
    if answer != expected:
        raise AssertionError("internal authentication failed: forged or foreign card")

    # spec version decides generation-3 handling
    version, _ = run(card, "00B2032800")
    if version[2:3] == b"3":
        r, sw = run(card, "0084000008")
        assert sw == 0x9000
        assert des_init(sam, high | KeyId.RKSSSE, f1, f2, r) == 0x9000
        x = bytes.fromhex("0102030405060708")
        c, sw = run(sam, "80FA000008" + x.hex())
        assert sw == 0x9000
        assert run(card, "0082000A10" + (c + x).hex()) == (b"", 0x9000)

    records: dict[int, bytes] = {}
    for tag in (0x01, 0x03, 0x05, 0x06, 0x07):
        data, sw = run(card, f"00B2{tag:02X}2800")
        assert sw == 0x9000
        assert data[0] == tag
        records[tag] = data[2:]
    for tag in (0x08, 0x09, 0x4E):
        data, sw = run(card, f"00B2{tag:02X}3000")
        if tag == 0x4E and sw == 0x6A83:
            continue  # generation 1
        assert sw == 0x9000
        records[tag] = data[2:]
    return records


@pytest.mark.parametrize(
    ("gen", "version", "number", "name"),
    [
        (1, b"1.00", b"B12345671", "李四"),
        (2, b"2.00", b"A00000011", "张三"),
        (3, b"3.00", b"A00000038", "阿依古丽·艾合买提江·吐尔洪巴依"),
    ],
)
@pytest.mark.parametrize("protocol", ["T=0", "T=1"])
def test_basic_read_all_generations(
    gen: int, version: bytes, number: bytes, name: str, protocol: str
) -> None:
    data = example_profile(gen)
    data["protocol"] = protocol
    card = UserCard.from_profile(data, random_source=ScriptedRandom())
    records = basic_read(card, psam(protocol))
    assert records[0x03] == version
    assert records[0x07] == number
    assert records[0x08].decode("ascii") == data["ssn"]
    full = records[0x09].rstrip(b"\x00") + records.get(0x4E, b"").rstrip(b"\x00")
    assert full.decode("gb18030") == name
    assert (0x4E in records) == (gen != 1)
    assert records[0x01][3:8] == bytes.fromhex("D156000005")


@pytest.mark.parametrize("gen", [2, 3])
def test_card_with_other_masters_fails_the_psam_check(gen: int) -> None:
    data = example_profile(gen)
    data["masters"] = {n: "5A" * 16 for n in ("IRK", "UK", "PRK", "STK", "RKSSSE")}
    card = UserCard.from_profile(data)
    with pytest.raises(AssertionError, match="forged or foreign"):
        basic_read(card, psam())


def test_gen3_card_refuses_ext_auth_with_foreign_psam() -> None:
    card = UserCard.from_file(EXAMPLES / "gen3.json")
    card.power_on()
    other = Psam.from_dict(
        {
            "terminal_number": "370400000002",
            "masters": {"SM4": {n: "A5" * 16 for n in ("IRK", "UK", "PRK", "STK", "RKSSSE")}},
        }
    )
    other.power_on()
    tx(other, SELECT_DF01)
    run(card, "00A404000F" + SSSE.hex())
    r, _ = run(card, "0084000008")
    assert des_init(other, 0x8A, card.atr[-8:], F2, r) == 0x9000
    c, _ = run(other, "80FA0000080102030405060708")
    assert tx(card, "0082000A10" + c.hex() + "0102030405060708") == (b"", 0x63C2)
    assert des_init(other, 0x0A, card.atr[-8:], F2, r) == 0x6A88  # no 3DES keys in it

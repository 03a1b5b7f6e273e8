"""Every known-answer vector of section 6 of the card contract, byte for byte."""

from __future__ import annotations

import pytest

from cardsvc import crypto
from cardsvc.crypto import Algorithm, KeyId

ATR = bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
F1 = bytes.fromhex("868437041A2B3C4D")
F2 = bytes.fromhex("3337303430327378")

VECTORS = {
    Algorithm.DES3: {
        "city_irk": "DAA9F066C67C2E1214270FD26503863A",
        KeyId.IRK: "B9AEAFAA85C8B37A701DC8881E2C1C3B",
        KeyId.UK: "207D6512428E4DAAA66E2E1381B79A56",
        KeyId.PRK: "FDB439E94C2B9C775F23FD15C1482E69",
        KeyId.STK: "8339AF4084EBEABDECD9267035A7065E",
        KeyId.RKSSSE: "17A6267DDDEA4CBECFA72F3B2D237922",
        "ext_sk": "F8D2B08103F888BF6E5AD7B519D19A1C",
        "ext_c": "00B5FED6B477E200",
        "int": "1E780E2489C56B7B",
        "block": "5C2141AD",
        "unblock": "9BAADB2B",
        "reload": "842400000C5362C25B748A50DDBA6213E8",
    },
    Algorithm.SM4: {
        "city_irk": "B3200E97D20571E89C276E681581B004",
        KeyId.IRK: "2740E46F1561AA1779B6EA4140F21137",
        KeyId.UK: "2B347F111487CF42AA8316F2E0DEB5AA",
        KeyId.PRK: "209161FAFCA513B1D352ACDA054A8B42",
        KeyId.STK: "7D47DBC3E3CF5EC98D3D19FE8BA8CFDC",
        KeyId.RKSSSE: "EDB85104DBB5F7103CE0323D6546A324",
        "ext_sk": "D022455CE51E20608A69E1161B679D92",
        "ext_c": "C350A32798AE1817",
        "int": "A74D105C8C492222",
        "block": "9E086078",
        "unblock": "3204D365",
        "reload": "8424000014237EDB79DBB82B6B95EBF76F7734494124260F05",
    },
}

ALGS = [Algorithm.DES3, Algorithm.SM4]


def _card_keys(alg: Algorithm) -> dict[KeyId, bytes]:
    return crypto.demo_masters(alg).card_keys(F1, F2)


def test_factors() -> None:
    assert crypto.card_factor(ATR) == F1
    assert crypto.region_factor("370402") == F2


@pytest.mark.parametrize("alg", ALGS)
def test_city_key(alg: Algorithm) -> None:
    master = crypto.demo_masters(alg).keys[KeyId.IRK]
    assert crypto.div(alg, master, F2).hex().upper() == VECTORS[alg]["city_irk"]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("kid", list(KeyId))
def test_card_keys(alg: Algorithm, kid: KeyId) -> None:
    assert _card_keys(alg)[kid].hex().upper() == VECTORS[alg][kid]


@pytest.mark.parametrize("alg", ALGS)
def test_external_authenticate(alg: Algorithm) -> None:
    sk = crypto.session_key(alg, _card_keys(alg)[KeyId.RKSSSE], bytes.fromhex("0102030405060708"))
    assert sk.hex().upper() == VECTORS[alg]["ext_sk"]
    c = crypto.cryptogram(alg, sk, bytes.fromhex("1122334455667788"))
    assert c.hex().upper() == VECTORS[alg]["ext_c"]


@pytest.mark.parametrize("alg", ALGS)
def test_internal_authenticate(alg: Algorithm) -> None:
    sk = crypto.session_key(alg, _card_keys(alg)[KeyId.IRK], bytes.fromhex("A1A2A3A4A5A6A7A8"))
    resp = crypto.cryptogram(alg, sk, bytes.fromhex("B1B2B3B4B5B6B7B8"))
    assert resp.hex().upper() == VECTORS[alg]["int"]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(("name", "header"), [("block", "841E0000"), ("unblock", "84180000")])
def test_block_unblock_mac(alg: Algorithm, name: str, header: str) -> None:
    apdu = crypto.secure_command(
        alg,
        _card_keys(alg)[KeyId.STK],
        bytes.fromhex("0807060504030201"),
        bytes.fromhex(header),
        b"",
    )
    assert apdu[:5] == bytes.fromhex(header + "04")
    assert apdu[5:].hex().upper() == VECTORS[alg][name]


@pytest.mark.parametrize("alg", ALGS)
def test_reload_pin_apdu(alg: Algorithm) -> None:
    prk = _card_keys(alg)[KeyId.PRK]
    enc = crypto.encrypt(alg, prk, crypto.pin_block(alg, "654321"))
    apdu = crypto.secure_command(
        alg, prk, bytes.fromhex("1020304050607080"), bytes.fromhex("84240000"), enc
    )
    assert apdu.hex().upper() == VECTORS[alg]["reload"]
    # and the card side recovers the PIN from it
    assert crypto.parse_pin_block(alg, crypto.decrypt(alg, prk, enc)) == "654321"


@pytest.mark.parametrize("alg", ALGS)
def test_pin_block_roundtrip(alg: Algorithm) -> None:
    for pin in ["1234", "12345", "123456789012"]:
        assert crypto.parse_pin_block(alg, crypto.pin_block(alg, pin)) == pin


def test_bad_inputs_raise_crypto_error() -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.div(Algorithm.DES3, bytes(15), bytes(8))
    with pytest.raises(crypto.CryptoError):
        crypto.div(Algorithm.SM4, bytes(16), bytes(7))
    with pytest.raises(crypto.CryptoError):
        crypto.region_factor("37040")
    with pytest.raises(crypto.CryptoError):
        crypto.pin_to_bcd("12a4")
    with pytest.raises(crypto.CryptoError):
        crypto.parse_pin_block(Algorithm.DES3, bytes(8))


def test_master_keys_repr_hides_keys() -> None:
    masters = crypto.demo_masters(Algorithm.DES3)
    text = repr(masters)
    assert "4742088B" not in text.upper()
    assert "hidden" in text

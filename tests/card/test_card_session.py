"""SscSession against simulated cards in the in-process backend (no pcscd)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from card_helpers import SM_KINDS, CountingConnection, SmKind, foreign_masters, rig, user_card

from cardsvc.card import (
    ApplicationBlocked,
    CardPermanentlyBlocked,
    CardStatusError,
    Df,
    ForgedCard,
    HotlistedCard,
    InvalidPin,
    NoSecurityModule,
    PinBlocked,
    PinFormatError,
    Sex,
    SscSession,
    WrongCardType,
)
from cardsvc.card.records import EF05_SFI, Tag
from cardsvc.card.session import BASIC_READ_APDUS
from cardsvc.crypto import Algorithm
from reader_driver import ReaderBusy
from simulators.personalisation import example_profile
from simulators.psam import Psam

GENERATIONS = (1, 2, 3)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("kind", SM_KINDS)
@pytest.mark.parametrize("channel", [False, True], ids=["raw", "channel"])
def test_basic_read_every_generation(generation: int, kind: SmKind, channel: bool) -> None:
    p = example_profile(generation)
    with rig(user_card(generation)) as r:
        session, _ = r.session(kind, channel=channel)
        result = session.basic_read()
    assert result.generation == generation
    assert result.algorithm is Algorithm.for_generation(generation)
    assert result.region_code == p["region_code"]
    assert str(result.card_id) == (
        f"{p['region_code']}D156000005{p['chip_serial']}{p['card_id_suffix']}".upper()
    )
    assert result.card_number == p["card_number"]
    assert result.ssn == p["ssn"]
    assert result.name == f"{p['name']}{p['name_ext']}"
    assert result.spec_version == f"{generation}.00"
    assert result.issue_date == dt.datetime.strptime(str(p["issue_date"]), "%Y%m%d").date()
    assert result.expiry_date == dt.datetime.strptime(str(p["expiry_date"]), "%Y%m%d").date()
    assert result.ssn not in repr(result)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("protocol", ["T=0", "T=1"])
def test_basic_read_apdu_count(generation: int, protocol: str) -> None:
    """The user-card APDUs (GET RESPONSEs included) are the documented minimum."""
    with rig(user_card(generation, protocol=protocol)) as r:
        session, conn = r.session("psam")
        before = r.sam_counter.count
        session.basic_read()
        psam_apdus = r.sam_counter.count - before
    expected = BASIC_READ_APDUS[(generation, protocol)]
    assert conn.count == expected, conn.instructions()
    # no SELECT EF, no 6Cxx retry: each READ RECORD is sent once, by SFI and tag
    reads = [a for a in conn.apdus if a[1] == 0xB2]
    assert len(reads) == len({a[2:4] for a in reads})
    assert all(a[3] & 0x07 == 0 for a in reads)
    # the T=0 PSAM: DES INIT + ENCRYPT + GET RESPONSE per authentication
    assert psam_apdus == (6 if generation == 3 else 3)


def test_basic_read_counts_the_same_through_a_card_channel() -> None:
    with rig(user_card(2)) as r:
        session, conn = r.session("keys", channel=True)
        session.basic_read()
    assert conn.count == BASIC_READ_APDUS[(2, "T=0")]


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("kind", SM_KINDS)
def test_a_card_of_other_masters_is_forged(generation: int, kind: SmKind) -> None:
    card = user_card(generation, masters=foreign_masters())
    with rig(card) as r:
        session, conn = r.session(kind)
        with pytest.raises(ForgedCard):
            session.basic_read()
    # nothing is read after the failed INTERNAL AUTHENTICATE (88, then its GET RESPONSE)
    assert conn.instructions()[-2:] == ["88", "C0"]
    assert "84" not in conn.instructions()


def test_a_psam_in_the_user_reader_is_the_wrong_card_type() -> None:
    with rig() as r:
        r.backend.insert(Psam.demo(), "User")
        session, _ = r.session("keys")
        with pytest.raises(WrongCardType):
            session.basic_read()


def test_without_a_security_module_the_basic_read_refuses() -> None:
    with rig(user_card(2)) as r:
        session, conn = r.session(None)
        with pytest.raises(NoSecurityModule):
            session.basic_read()
        assert conn.count == 0
        # the unauthenticated reads of generations 1/2 still work
        info = session.read_basic_info()
    assert info.sex is Sex.MALE
    assert info.nationality == "01"
    assert info.birthplace == "370402"
    assert info.birth_date == dt.date(1990, 1, 1)
    assert info.init_org == bytes.fromhex("370400000000000000000001")


def test_generation_3_basic_info_needs_external_authentication() -> None:
    with rig(user_card(3)) as r:
        session, _ = r.session(None)
        with pytest.raises(NoSecurityModule):
            session.read_basic_info()
        with pytest.raises(CardStatusError) as caught:
            session.read_record(0x06, Tag.SSN, 18)
        assert caught.value.sw == 0x6982
        session, _ = r.session("psam")
        info = session.read_basic_info()
    assert info.name == "阿依古丽·艾合买提江·吐尔洪巴依"
    assert info.nationality == "05"


@pytest.mark.parametrize("kind", SM_KINDS)
def test_wrong_pin_counts_down_then_blocks_and_reload_unblocks(kind: SmKind) -> None:
    with rig(user_card(1)) as r:  # 3 tries
        session, conn = r.session(kind)
        status = session.pin_status()
        assert (status.verified, status.tries_left, status.blocked) == (False, 3, False)
        for left in (2, 1):
            with pytest.raises(InvalidPin) as caught:
                session.verify_pin("0000")
            assert caught.value.tries_left == left
        with pytest.raises(PinBlocked):
            session.verify_pin("0000")
        with pytest.raises(PinBlocked):
            session.verify_pin("2468")  # the right PIN no longer helps
        assert session.pin_status().blocked
        session.reload_pin("97531")
        assert session.pin_status().tries_left == 3
        with pytest.raises(InvalidPin):
            session.verify_pin("2468")
        session.verify_pin("97531")
        assert session.pin_status().verified
    # the PIN is never on the wire in clear except in VERIFY / CHANGE PIN data
    reload = next(a for a in conn.apdus if a[:2] == b"\x84\x24")
    assert bytes.fromhex("97531F") not in reload


def test_change_pin_and_pin_format() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session(None)
        with pytest.raises(InvalidPin) as caught:
            session.change_pin("000000", "112233")
        assert caught.value.tries_left == 5
        session.change_pin("123456", "112233")
        session.verify_pin("112233")
        with pytest.raises(PinFormatError) as bad:
            session.verify_pin("12a4")
        assert "12a4" not in str(bad.value)


@pytest.mark.parametrize("kind", SM_KINDS)
def test_blocked_application_is_seen_as_blocked_and_still_identified(kind: SmKind) -> None:
    with rig(user_card(3)) as r:
        session, _ = r.session(kind)
        session.basic_read()
        session.application_block()
        fresh, _ = r.session(kind)
        with pytest.raises(ApplicationBlocked) as caught:
            fresh.select()
        assert caught.value.sw == 0x6283
        assert fresh.application_blocked
        with pytest.raises(ApplicationBlocked):
            fresh.basic_read()
        issuer = fresh.read_issuer_info()  # EF05 still answers: identification
        assert issuer.card_number == "A00000038"
        assert fresh.algorithm is Algorithm.SM4  # from the spec version
        with pytest.raises(ApplicationBlocked):
            fresh.verify_pin("135790")  # 6985 while blocked
        fresh.application_unblock()
        assert not fresh.application_blocked
        assert fresh.basic_read().card_number == "A00000038"


def test_hotlisted_card_is_blocked() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session("psam")
        with pytest.raises(HotlistedCard):
            session.basic_read(hotlist=lambda read: read.card_number == "A00000011")
        with pytest.raises(ApplicationBlocked):
            r.session("psam")[0].basic_read()


def test_card_block_is_permanent() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session("keys")
        session.card_block()
        with pytest.raises(CardPermanentlyBlocked):
            session.select()


def test_df_records_need_the_pin() -> None:
    with rig(user_card(3)) as r:
        session, _ = r.session(None)
        with pytest.raises(CardStatusError) as caught:
            session.read_df_records(Df.DF04)
        assert caught.value.sw == 0x6982
        session.verify_pin("135790")
        records = session.read_df_records(Df.DF04)
        assert [(x.tag, x.value.hex()) for x in records] == [(5, "20250601"), (6, "00")]
        assert [x.value for x in session.read_df_records(Df.DF01)][1] == b"13800000000"
        # back in the SSSE afterwards
        assert session.read_issuer_info().card_number == "A00000038"


@pytest.mark.parametrize("kind", SM_KINDS)
def test_update_record_after_external_authentication(kind: SmKind) -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session(kind)
        session.update_record(EF05_SFI, Tag.EXPIRY_DATE, bytes.fromhex("20441231"))
        assert session.read_issuer_info().expiry_date == dt.date(2044, 12, 31)
        with pytest.raises(CardStatusError) as caught:
            session.update_record(EF05_SFI, Tag.EXPIRY_DATE, bytes.fromhex("2044"))
        assert caught.value.sw == 0x6A80


def test_session_over_a_counting_connection_keeps_every_sequence_in_a_transaction() -> None:
    """Another connection cannot slip in between GET CHALLENGE and EXTERNAL AUTHENTICATE."""
    with rig(user_card(3)) as r:
        session, conn = r.session("psam")
        other = CountingConnection(r.backend.connect("User"))
        r.opened.append(other)

        def interleave(n: int) -> None:
            if n and conn.apdus[-1][1] == 0x84:
                # the other connection waits for our transaction: ReaderBusy after the timeout
                r.backend.transaction_timeout = 0.05
                with pytest.raises(ReaderBusy):
                    other.transmit(bytes.fromhex("00A4000002"))

        conn._on_transmit = interleave
        session.basic_read()
    assert other.count == 1  # tried, refused while we held the card


def test_scripted_random_is_used_for_p_s_and_x() -> None:
    values = iter([bytes([i]) * 8 for i in range(1, 10)])
    with rig(user_card(2)) as r:
        conn = r.connect()
        session = SscSession(conn, r.keys, random=lambda n: next(values))
        session.internal_authenticate()
    intauth = next(a for a in conn.apdus if a[1] == 0x88)
    assert intauth[5:] == bytes([1]) * 8 + bytes([2]) * 8


def test_importing_the_card_package_loads_no_reader_layer() -> None:
    code = (
        "import sys, cardsvc.card, cardsvc.card.reader_string; "
        "print([m for m in sys.modules if m.startswith(('reader_driver', 'smartcard'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60)
    assert done.stdout.strip() == b"[]"

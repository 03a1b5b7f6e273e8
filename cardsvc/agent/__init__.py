"""The station agent: the station core (cardsvc.station) behind a local HTTP interface.

- `cardsvc.agent.client.AgentClient`: the Python client of that interface (counter,
  kiosk, demo) — the only name this package imports eagerly (httpx only);
- `cardsvc.agent.app.create_agent_app(station, allowed_origin=…)`: the ASGI app
  (FastAPI behind the loopback/Host/Origin guard);
- `cardsvc.agent.server.AgentServer`: the app on uvicorn on a thread (127.0.0.1).

`cardsvc agent` (cardsvc.cli.agent) runs it. Importing this package starts nothing.
"""

from cardsvc.agent.client import DEFAULT_AGENT_URL, AgentClient, AgentEvent

__all__ = ["DEFAULT_AGENT_URL", "AgentClient", "AgentEvent"]

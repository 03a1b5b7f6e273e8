"""The one-command demo (`cardsvc demo`): the whole service on one machine.

A work directory with an SQLite database seeded as a small city, the HTTP API
(uvicorn) on a free loopback port, a private pcscd with seeded residents' cards
and a PSAM in simulated readers (or the in-process reader where pcscd cannot
run), the counter's and the kiosk's station agents, and the scripted counter and
kiosk sessions. Small modules, one job each:

- `workdir`: where the database, the card files and the logs go;
- `city`: migrate, seed, and the card files of the residents the demo uses;
- `api_server`: `cardsvc serve` as a subprocess, ready when /readyz says so;
- `readers`: pcscd + vpcd + simulators, or the in-process backend;
- `card_story`: what a terminal does with the example cards (generations 1-3, PIN,
  a forged card);
- `stations`: the counter's and the kiosk's station core + agent HTTP interface, on
  threads of the demo process;
- `programs`: the scripted sessions run by `cardsvc counter --script` and `cardsvc
  kiosk --script` (subprocesses), and the hotlist decisions the stations took;
- `terminal`, `sessions`: the same sessions done by the demo itself, used only
  where the station agents cannot start;
- `runner`: all of it in order, and the hand-over until Ctrl-C.

Nothing here runs at import time.
"""

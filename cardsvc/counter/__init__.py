"""The counter program (`cardsvc counter`): a clerk's station on top of the API and the
station agent. Also the parts the kiosk program shares: the item catalogue, the API
calls of each business item, rendering and the command input."""

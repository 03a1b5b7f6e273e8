"""The kiosk program (`cardsvc kiosk`): a resident's self-service session with their card:
card in, PIN, the kiosk items, a receipt (text and PDF); card out or 60 s idle ends it."""

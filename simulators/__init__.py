"""Software smart cards: the SSC user card, the PSAM, the vpcd transport and faults.

Shares only constants and crypto primitives (cardsvc.apdu, cardsvc.crypto) with the
terminal side; never imports services or api.
"""

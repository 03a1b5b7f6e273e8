"""cardsvc: the social security card transaction service.

Subpackages are imported on demand; importing this package has no side effects.
"""

__version__ = "0.1.0"

"""The card's PIN counter against a simple model (Hypothesis stateful testing).

Rules: VERIFY with the right or a wrong PIN, the Lc=0 status query, CHANGE PIN
with a right or wrong old PIN, RELOAD PIN (GET CHALLENGE + PRK-MAC'd APDU), and
reset. After every step the card's status word and its tries-left / verified /
blocked state must equal the model's.
"""

from __future__ import annotations

from itertools import count

from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cardsvc import crypto
from cardsvc.crypto import Algorithm, KeyId
from simulators.personalisation import example_profile
from simulators.ssc_card import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
F1 = bytes.fromhex("868437041A2B3C4D")
F2 = bytes.fromhex("3337303430327378")

pins = st.text(alphabet="0123456789", min_size=4, max_size=12)


def _sw(resp: bytes) -> int:
    return int.from_bytes(resp[-2:], "big")


class PinModel(RuleBasedStateMachine):
    @initialize(gen=st.sampled_from([2, 3]), limit=st.integers(1, 4))
    def make_card(self, gen: int, limit: int) -> None:
        data = example_profile(gen)
        data["pin_tries"] = limit
        data["protocol"] = "T=1"
        counter = count()
        self.card = UserCard.from_profile(
            data, random_source=lambda n: bytes((next(counter) + i) & 0xFF for i in range(n))
        )
        self.alg = Algorithm.for_generation(gen)
        self.prk = crypto.demo_masters(self.alg).card_keys(F1, F2)[KeyId.PRK]
        self.card.power_on()
        assert _sw(self.card.transmit(SELECT_SSSE)) == 0x9000
        self.pin = str(data["pin"])
        self.limit = limit
        self.left = limit
        self.verified = False

    # -- the model's answer to a PIN comparison --------------------------------------------

    def _expect_compare(self, right: bool) -> int:
        if self.left == 0:
            return 0x6983
        if right:
            self.left = self.limit
            self.verified = True
            return 0x9000
        self.left -= 1
        self.verified = False
        return 0x63C0 | self.left

    def _verify(self, pin: str) -> int:
        bcd = crypto.pin_to_bcd(pin)
        return _sw(self.card.transmit(bytes.fromhex("00200000") + bytes((len(bcd),)) + bcd))

    # -- rules --------------------------------------------------------------------------------

    @rule()
    def verify_right(self) -> None:
        assert self._verify(self.pin) == self._expect_compare(right=True)

    @rule(pin=pins)
    def verify_wrong(self, pin: str) -> None:
        assume(pin != self.pin)
        assert self._verify(pin) == self._expect_compare(right=False)

    @rule()
    def query(self) -> None:
        if self.left == 0:
            expected = 0x6983
        elif self.verified:
            expected = 0x9000
        else:
            expected = 0x63C0 | self.left
        assert _sw(self.card.transmit(bytes.fromhex("0020000000"))) == expected

    @rule(new=pins, old_right=st.booleans(), wrong=pins)
    def change_pin(self, new: str, old_right: bool, wrong: str) -> None:
        old = self.pin if old_right else wrong
        assume(old_right or wrong != self.pin)
        data = crypto.pin_to_bcd(old) + b"\xff" + crypto.pin_to_bcd(new)
        sw = _sw(self.card.transmit(bytes.fromhex("805E0100") + bytes((len(data),)) + data))
        expected = self._expect_compare(right=old_right)
        assert sw == expected
        if expected == 0x9000:
            self.pin = new

    @rule(new=pins)
    def reload_pin(self, new: str) -> None:
        resp = self.card.transmit(bytes.fromhex("0084000008"))
        assert _sw(resp) == 0x9000
        challenge = resp[:-2]
        enc = crypto.encrypt(self.alg, self.prk, crypto.pin_block(self.alg, new))
        apdu = crypto.secure_command(self.alg, self.prk, challenge, bytes.fromhex("84240000"), enc)
        assert _sw(self.card.transmit(apdu)) == 0x9000
        self.pin = new
        self.left = self.limit
        self.verified = False

    @rule()
    def reset(self) -> None:
        self.card.reset()
        assert _sw(self.card.transmit(SELECT_SSSE)) == 0x9000
        self.verified = False

    @invariant()
    def card_matches_model(self) -> None:
        if not hasattr(self, "card"):
            return
        state = self.card.state()
        assert state["pin_tries_left"] == self.left
        assert state["pin_try_limit"] == self.limit
        assert state["pin_blocked"] == (self.left == 0)
        assert state["pin_verified"] == self.verified


PinModel.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestPinModel = PinModel.TestCase

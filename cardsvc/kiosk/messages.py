"""What the kiosk tells the resident (Chinese, then English), in one place."""

from __future__ import annotations

from typing import Final

WELCOME: Final = "请插入社会保障卡 / please insert your social security card"
ENTER_PIN: Final = "请输入密码 / enter your PIN (Enter: cancel)"
PIN_OK: Final = "密码正确 / PIN accepted"
PIN_BLOCKED: Final = (
    "密码已锁定，请持身份证到柜台办理密码重置 / your PIN is blocked: "
    "please go to a counter with your ID document to have it reset"
)
INITIAL_PIN: Final = (
    "您的卡仍使用初始密码，请先修改密码 / your card still has its initial PIN: choose a new PIN now"
)
NOT_SERVED: Final = (
    "此卡不能使用（已挂失或注销），请到柜台办理 / this card cannot be used here "
    "(reported lost or cancelled): please go to a counter"
)
TAKE_CARD: Final = "请取走您的卡 / please take your card"
CARD_OUT: Final = "卡已取出，服务结束 / card taken out: session ended"
GOODBYE: Final = "谢谢 / thank you"
DEVICE_ID_WHERE: Final = (
    "--device is the kiosk's numeric device id (the API signs devices in by id): see "
    '"devices" in index.json next to the seeded card files (cardsvc seed --cards-dir DIR), '
    "or the id `cardsvc demo` prints in its instructions"
)


def wrong_pin(tries_left: object) -> str:
    if isinstance(tries_left, int):
        return (
            f"密码错误，还可以尝试 {tries_left} 次 / wrong PIN: {tries_left} "
            f"{'try' if tries_left == 1 else 'tries'} left"
        )
    return "密码错误 / wrong PIN"


def idle(seconds: float) -> str:
    return f"{seconds:g} 秒无操作，服务结束 / no input for {seconds:g} s: session ended"


def card_error(message: str) -> str:
    return f"此卡暂时无法使用 / this card cannot be used now: {message}"

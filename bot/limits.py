"""Telegram Bot API limits we design for (checked against python-telegram-bot in tests)."""
from typing import Final

MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024
MAX_CALLBACK_DATA: Final = 64
MAX_BUTTONS: Final = 100
MAX_BUTTONS_PER_ROW: Final = 8
MAX_CALLBACK_ANSWER: Final = 200
MAX_POLL_QUESTION: Final = 300
MAX_POLL_OPTIONS: Final = 12
MAX_POLL_OPTION: Final = 100
MAX_DEEP_LINK_PAYLOAD: Final = 64

# Flood limits: overall, per private chat, per group.
MESSAGES_PER_SECOND: Final = 30
PRIVATE_PER_SECOND: Final = 1
GROUP_PER_MINUTE: Final = 20

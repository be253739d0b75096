"""Our Telegram limits match python-telegram-bot's, which tracks the Bot API."""
from telegram import constants as c

from bot import limits


def test_limits_match_the_bot_api():
    assert limits.MAX_TEXT == c.MessageLimit.MAX_TEXT_LENGTH
    assert limits.MAX_CAPTION == c.MessageLimit.CAPTION_LENGTH
    assert limits.MAX_CALLBACK_DATA == c.InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    assert limits.MAX_BUTTONS == c.InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER
    assert limits.MAX_BUTTONS_PER_ROW == c.InlineKeyboardMarkupLimit.BUTTONS_PER_ROW
    assert limits.MAX_CALLBACK_ANSWER == c.CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH
    assert limits.MAX_POLL_QUESTION == c.PollLimit.MAX_QUESTION_LENGTH
    assert limits.MAX_POLL_OPTIONS == c.PollLimit.MAX_OPTION_NUMBER
    assert limits.MAX_POLL_OPTION == c.PollLimit.MAX_OPTION_LENGTH
    assert limits.MAX_DEEP_LINK_PAYLOAD == c.MessageLimit.DEEP_LINK_LENGTH
    assert limits.MESSAGES_PER_SECOND == c.FloodLimit.MESSAGES_PER_SECOND
    assert limits.GROUP_PER_MINUTE == c.FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP
    assert limits.PRIVATE_PER_SECOND == c.FloodLimit.MESSAGES_PER_SECOND_PER_CHAT

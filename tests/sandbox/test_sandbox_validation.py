"""Validation errors: texts, exception classes, and limits cross-checked with python-telegram-bot."""

from __future__ import annotations

import html

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, InputPollOption
from hypothesis import given
from hypothesis import strategies as st
from telegram import constants as ptb

from bot.sandbox import BotAPIEmulator, validation
from bot.sandbox.formatting import EntityParseError, parse_html, utf16_len

from .conftest import RawApi


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows
    ])


def test_limits_match_python_telegram_bot() -> None:
    assert validation.MAX_TEXT_LENGTH == ptb.MessageLimit.MAX_TEXT_LENGTH
    assert validation.MAX_CAPTION_LENGTH == ptb.MessageLimit.CAPTION_LENGTH
    assert validation.MIN_CALLBACK_DATA == ptb.InlineKeyboardButtonLimit.MIN_CALLBACK_DATA
    assert validation.MAX_CALLBACK_DATA == ptb.InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    assert validation.MAX_INLINE_BUTTONS == ptb.InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER
    assert validation.MAX_BUTTONS_PER_ROW == ptb.InlineKeyboardMarkupLimit.BUTTONS_PER_ROW
    assert validation.MAX_CALLBACK_ANSWER_TEXT == ptb.CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH
    assert validation.MAX_POLL_QUESTION == ptb.PollLimit.MAX_QUESTION_LENGTH
    assert validation.MIN_POLL_OPTIONS == ptb.PollLimit.MIN_OPTION_NUMBER
    assert validation.MAX_POLL_OPTIONS == ptb.PollLimit.MAX_OPTION_NUMBER
    assert validation.MAX_POLL_OPTION == ptb.PollLimit.MAX_OPTION_LENGTH
    assert validation.MAX_BOT_COMMANDS == ptb.BotCommandLimit.MAX_COMMAND_NUMBER
    assert validation.MAX_COMMAND_LENGTH == ptb.BotCommandLimit.MAX_COMMAND
    assert validation.MAX_COMMAND_DESCRIPTION == ptb.BotCommandLimit.MAX_DESCRIPTION


@pytest.fixture
def ann(emu: BotAPIEmulator):
    return emu.add_user("Ann", started=True)


async def expect_bad_request(call, description: str) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await call
    assert caught.value.message == f"Bad Request: {description}"


async def test_text_length_is_counted_in_utf16(bot: Bot, ann, emu: BotAPIEmulator) -> None:
    limit = validation.MAX_TEXT_LENGTH
    await bot.send_message(ann.id, "x" * limit)
    await expect_bad_request(bot.send_message(ann.id, "x" * (limit + 1)), "message is too long")
    # An emoji outside the BMP is two UTF-16 units.
    await expect_bad_request(bot.send_message(ann.id, "👍" * (limit // 2 + 1)), "message is too long")
    # Tags do not count: the limit applies to the text after entity parsing.
    emu.flood_limits = False
    await bot.send_message(ann.id, "<b>" + "x" * limit + "</b>", parse_mode="HTML")


async def test_empty_text_is_rejected(bot: Bot, ann) -> None:
    await expect_bad_request(bot.send_message(ann.id, ""), "message text is empty")
    await expect_bad_request(bot.send_message(ann.id, "<b> </b>", parse_mode="HTML"), "message text is empty")


async def test_caption_limit(bot: Bot, ann) -> None:
    await expect_bad_request(
        bot.send_photo(ann.id, "https://example.invalid/a.jpg", caption="c" * (validation.MAX_CAPTION_LENGTH + 1)),
        "message caption is too long",
    )


@pytest.mark.parametrize(("markup", "description"), [
    ("<b>bold", "can't parse entities: Can't find end tag corresponding to start tag \"b\""),
    ("<b>x</i>", "can't parse entities: Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""),
    ("<div>x</div>", "can't parse entities: Unsupported start tag \"div\" at byte offset 0"),
    ("1 < 2", "can't parse entities: Unsupported start tag \"\" at byte offset 2"),
    ("Tom & Jerry", "can't parse entities: Character \"&\" must be escaped as \"&amp;\" at byte offset 4"),
    ("</b>", "can't parse entities: Unexpected end tag at byte offset 0"),
])
async def test_malformed_html_is_rejected(bot: Bot, ann, markup: str, description: str) -> None:
    await expect_bad_request(bot.send_message(ann.id, markup, parse_mode="HTML"), description)


def test_supported_html_is_parsed_into_entities() -> None:
    text, entities = parse_html(
        '<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>'
        '<span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler><a href="https://x.org/?a=1&amp;b=2">a</a>'
        '<code>c</code><pre><code class="language-python">py</code></pre><blockquote>bq</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &lt;&gt;&amp;&quot;&#20849;&#x6CBB;'
    )
    assert text == 'bsieunskdpqacpybq👍 <>&"共治'
    assert [e["type"] for e in entities] == [
        "bold", "bold", "italic", "italic", "underline", "underline", "strikethrough", "strikethrough",
        "strikethrough", "spoiler", "spoiler", "text_link", "code", "pre", "blockquote", "custom_emoji",
    ]
    assert entities[11]["url"] == "https://x.org/?a=1&b=2"
    assert entities[13] == {"type": "pre", "language": "python", "offset": 13, "length": 2}
    assert entities[15] == {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286", "offset": 17,
                            "length": 2}


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_escaped_text_always_round_trips(text: str) -> None:
    plain, entities = parse_html(html.escape(text))
    assert plain == text and entities == []
    wrapped, (entity,) = parse_html(f"<b>{html.escape(text)}</b>") if text else ("", ({"length": 0},))
    assert wrapped == text and entity["length"] == utf16_len(text)


@given(st.text(alphabet="<>&/bi ", max_size=12))
def test_parser_never_crashes(markup: str) -> None:
    try:
        parse_html(markup)
    except EntityParseError:
        pass


@pytest.mark.parametrize(("rows", "description"), [
    ([[("Go", "x" * (validation.MAX_CALLBACK_DATA + 1))]], "BUTTON_DATA_INVALID"),
    ([[("Go", "")]], "BUTTON_DATA_INVALID"),
    ([[("", "go")]], "BUTTON_TEXT_INVALID"),
    ([[(str(i), str(i)) for i in range(validation.MAX_BUTTONS_PER_ROW + 1)]], "BUTTONS_TOO_MUCH"),
    ([[(f"{r}{c}", f"{r}{c}") for c in range(5)] for r in range(21)], "too many inline buttons"),
])
async def test_bad_inline_keyboards(bot: Bot, ann, rows, description: str) -> None:
    await expect_bad_request(bot.send_message(ann.id, "pick", reply_markup=keyboard(*rows)), description)


async def test_callback_data_limit_is_in_bytes(bot: Bot, ann) -> None:
    # 21 CJK characters are 63 bytes: fine; 22 are 66 bytes: too long.
    await bot.send_message(ann.id, "ok", reply_markup=keyboard([("Go", "共" * 21)]))
    await expect_bad_request(bot.send_message(ann.id, "no", reply_markup=keyboard([("Go", "共" * 22)])),
                             "BUTTON_DATA_INVALID")


async def test_button_without_action_is_rejected(emu: BotAPIEmulator, api: RawApi, ann) -> None:
    status, body = await api("sendMessage", chat_id=ann.id, text="x",
                             reply_markup={"inline_keyboard": [[{"text": "Just text"}]]})
    assert (status, body["description"]) == (400, "Bad Request: text buttons are unallowed in the inline keyboard")
    assert emu.messages(ann) == []


async def test_edit_without_change_is_not_modified(bot: Bot, ann) -> None:
    markup = keyboard([("Go", "go")])
    sent = await bot.send_message(ann.id, "<b>Hi</b>", parse_mode="HTML", reply_markup=markup)
    await expect_bad_request(
        bot.edit_message_text("<b>Hi</b>", chat_id=ann.id, message_id=sent.message_id, parse_mode="HTML",
                              reply_markup=markup),
        "message is not modified: specified new message content and reply markup are exactly the same as a "
        "current content and reply markup of the message",
    )
    # Same text but different formatting is a modification.
    edited = await bot.edit_message_text("Hi", chat_id=ann.id, message_id=sent.message_id, reply_markup=markup)
    assert edited.entities is None
    await expect_bad_request(
        bot.edit_message_reply_markup(chat_id=ann.id, message_id=sent.message_id, reply_markup=markup),
        "message is not modified: specified new message content and reply markup are exactly the same as a "
        "current content and reply markup of the message",
    )


async def test_edit_and_delete_of_unknown_messages(bot: Bot, ann, emu: BotAPIEmulator) -> None:
    await expect_bad_request(bot.edit_message_text("x", chat_id=ann.id, message_id=99), "message to edit not found")
    await expect_bad_request(bot.delete_message(ann.id, 99), "message to delete not found")
    sent = await bot.send_message(ann.id, "bye")
    assert await bot.delete_message(ann.id, sent.message_id)
    await expect_bad_request(bot.delete_message(ann.id, sent.message_id), "message to delete not found")
    assert emu.messages(ann)[0].deleted
    user_message = await ann.send("mine")
    await expect_bad_request(bot.edit_message_text("x", chat_id=ann.id, message_id=user_message["message_id"]),
                             "message can't be edited")


async def test_callback_answer_limits(bot: Bot, ann, emu: BotAPIEmulator) -> None:
    sent = await bot.send_message(ann.id, "pick", reply_markup=keyboard([("Go", "go")]))
    query = await ann.press(emu.messages(ann)[-1], data="go")
    assert sent.message_id == query["message"]["message_id"]
    await expect_bad_request(
        bot.answer_callback_query(query["id"], text="x" * (validation.MAX_CALLBACK_ANSWER_TEXT + 1)),
        "MESSAGE_TOO_LONG",
    )
    assert await bot.answer_callback_query(query["id"], text="ok", show_alert=True)
    await expect_bad_request(bot.answer_callback_query(query["id"]),
                             "query is too old and response timeout expired or query ID is invalid")


async def test_unknown_chat(bot: Bot) -> None:
    await expect_bad_request(bot.send_message(777, "hello?"), "chat not found")
    await expect_bad_request(bot.get_chat(-100777), "chat not found")


async def test_forbidden_chats(bot: Bot, emu: BotAPIEmulator) -> None:
    stranger = emu.add_user("Stranger")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(stranger.id, "hi")
    fan = emu.add_user("Fan")
    await fan.send("/start")
    await bot.send_message(fan.id, "welcome")
    await fan.block_bot()
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(fan.id, "still there?")
    await fan.unblock_bot()
    await bot.send_message(fan.id, "welcome back")
    group = emu.add_group("Other estate", members=[fan], bot_is_member=False)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot is not a member of the supergroup chat"):
        await bot.send_message(group.id, "hello")
    basic = emu.add_group("Basic", chat_type="group", bot_is_member=False)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot is not a member of the group chat"):
        await bot.send_message(basic.id, "hello")
    assert [m.text for m in emu.bot_messages()] == ["welcome", "welcome back"]


@pytest.mark.parametrize(("question", "options", "description"), [
    ("q" * (validation.MAX_POLL_QUESTION + 1), ["a", "b"], "poll question length must not exceed 300"),
    ("", ["a", "b"], "poll question must be non-empty"),
    ("Q?", [], "poll must have at least 1 option"),
    ("Q?", [str(i) for i in range(validation.MAX_POLL_OPTIONS + 1)], "poll can't have more than 12 options"),
    ("Q?", ["a", "o" * (validation.MAX_POLL_OPTION + 1)], "poll options length must not exceed 100"),
])
async def test_poll_validation(bot: Bot, ann, question: str, options: list[str], description: str) -> None:
    await expect_bad_request(bot.send_poll(ann.id, question, options), description)


async def test_poll_options_as_strings_or_objects(api: RawApi, bot: Bot, ann) -> None:
    status, body = await api("sendPoll", chat_id=ann.id, question="Q?", options=["a", "b"])
    assert status == 200 and [o["text"] for o in body["result"]["poll"]["options"]] == ["a", "b"]
    sent = await bot.send_poll(ann.id, "<b>Q?</b>", [InputPollOption(text="<i>a</i>", text_parse_mode="HTML"), "b"],
                               question_parse_mode="HTML")
    assert sent.poll.question == "Q?" and [o.text for o in sent.poll.options] == ["a", "b"]

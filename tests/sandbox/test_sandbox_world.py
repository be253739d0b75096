"""The scripting API: users, groups, photos, polls, buttons, membership, transcripts."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox import BotAPIEmulator, ScriptError


@pytest.fixture(autouse=True)
def no_flood(emu: BotAPIEmulator) -> None:
    emu.flood_limits = False


async def test_user_photo_can_be_fetched_with_get_file(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann")
    sent = await ann.send_photo(caption="leak under the sink")
    assert [size["width"] for size in sent["photo"]] == [90, 320, 800]
    (update,) = await bot.get_updates()
    largest = update.message.photo[-1]
    assert update.message.caption == "leak under the sink"
    file = await bot.get_file(largest.file_id)
    assert file.file_size == largest.file_size
    content = await bot.download_file(file.file_path)
    assert content.read() == emu.world.files[largest.file_id].content


async def test_bot_upload_then_resend_by_file_id(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    first = await bot.send_photo(ann.id, BufferedInputFile(b"\x89PNG fake", "notice.png"), caption="<b>Notice</b>",
                                 parse_mode="HTML")
    assert first.caption == "Notice" and first.caption_entities[0].type == "bold"
    again = await bot.send_photo(ann.id, first.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == first.photo[-1].file_unique_id
    file = await bot.get_file(first.photo[-1].file_id)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emu.base_url}/file/bot{emu.token}/{file.file_path}") as response:
            assert await response.read() == b"\x89PNG fake"
        async with session.get(f"{emu.base_url}/file/bot{emu.token}/photos/nope.jpg") as response:
            assert response.status == 404
    document = await bot.send_document(ann.id, BufferedInputFile(b"a,b\n1,2\n", "report.csv"))
    assert document.document.file_name == "report.csv"


async def test_location_sticker_and_voice_arrive_as_updates(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann")
    await ann.send_location(31.2304, 121.4737)
    await ann.send_sticker()
    await ann.send_voice()
    updates = await bot.get_updates()
    assert updates[0].message.location.latitude == pytest.approx(31.2304)
    assert updates[1].message.sticker.emoji == "👍"
    assert updates[2].message.voice.duration == 3
    location = await bot.send_location(ann.id, 31.23, 121.47)
    assert location.location.longitude == pytest.approx(121.47)


async def test_reply_and_group_messages(bot: Bot, emu: BotAPIEmulator) -> None:
    ann, bob = emu.add_user("Ann"), emu.add_user("Bob")
    group = emu.add_group("Block 3", members=[ann, bob], admins=[ann])
    notice = await bot.send_message(group.id, "Water off tomorrow")
    await bob.reply(emu.messages(group)[-1], "@gongzhi_bot until when?")
    (update,) = await bot.get_updates()
    assert update.message.reply_to_message.message_id == notice.message_id
    assert update.message.entities[0].type == "mention"
    answer = await bot.send_message(group.id, "Until noon", reply_parameters={"message_id": update.message.message_id})
    assert answer.reply_to_message.from_user.id == bob.id
    outsider = emu.add_user("Eve")
    with pytest.raises(ScriptError, match="not a member"):
        await outsider.send("hi", chat=group)


async def test_press_requires_an_existing_button(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="vote:yes"),
                                                      InlineKeyboardButton(text="Site", url="https://example.org")]])
    await bot.send_message(ann.id, "Agree?", reply_markup=keyboard)
    message = emu.messages(ann)[-1]
    with pytest.raises(ScriptError, match="no button"):
        await ann.press(message, text="No")
    with pytest.raises(ScriptError, match="no callback_data"):
        await ann.press(message, text="Site")
    pressed = await ann.press(message, text="Yes")
    forged = await ann.press_raw(message, "vote:admin")
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates] == ["vote:yes", "vote:admin"]
    assert pressed["id"] != forged["id"]
    assert updates[0].callback_query.message.message_id == message.message_id


async def test_poll_answers_and_totals(bot: Bot, emu: BotAPIEmulator) -> None:
    ann, bob = emu.add_user("Ann"), emu.add_user("Bob")
    group = emu.add_group("Block 3", members=[ann, bob])
    public = await bot.send_poll(group.id, "Repaint the hall?", ["Yes", "No"], is_anonymous=False)
    secret = await bot.send_poll(group.id, "Budget?", ["Low", "High"])
    public_message, secret_message = emu.messages(group)
    await ann.answer_poll(public_message, [0])
    await bob.answer_poll(public_message, [1])
    await bob.answer_poll(secret_message, [1])
    updates = await bot.get_updates(allowed_updates=["poll", "poll_answer"])
    kinds = [u.event_type for u in updates]
    assert kinds == ["poll", "poll_answer", "poll", "poll_answer", "poll"]
    assert updates[1].poll_answer.user.id == ann.id and updates[1].poll_answer.option_ids == [0]
    assert updates[2].poll.total_voter_count == 2 and [o.voter_count for o in updates[2].poll.options] == [1, 1]
    assert updates[4].poll.id == secret.poll.id
    with pytest.raises(ScriptError, match="single answer"):
        await ann.answer_poll(public_message, [0, 1])
    stopped = await bot.stop_poll(group.id, public.message_id)
    assert stopped.is_closed and stopped.total_voter_count == 2
    with pytest.raises(ScriptError, match="closed"):
        await ann.answer_poll(public_message, [1])


async def test_join_leave_and_membership_queries(bot: Bot, emu: BotAPIEmulator) -> None:
    owner, admin, bob = emu.add_user("Olga"), emu.add_user("Ada"), emu.add_user("Bob")
    group = emu.add_group("Block 3", owner=owner, admins=[admin])
    await bot.get_updates(allowed_updates=["message", "chat_member"])
    await group.join(bob)
    assert (await bot.get_chat_member(group.id, bob.id)).status == "member"
    await group.leave(bob)
    updates = await bot.get_updates()
    assert [u.event_type for u in updates] == ["message", "chat_member", "message", "chat_member"]
    assert updates[0].message.new_chat_members[0].id == bob.id
    assert updates[2].message.left_chat_member.id == bob.id
    assert (await bot.get_chat_member(group.id, bob.id)).status == "left"
    statuses = sorted(member.status for member in await bot.get_chat_administrators(group.id))
    assert statuses == ["administrator", "administrator", "creator"]  # Ada, the bot, Olga
    assert (await bot.get_chat(group.id)).title == "Block 3"
    assert await bot.get_chat_member_count(group.id) == 3


async def test_block_and_bot_removal_send_my_chat_member(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    group = emu.add_group("Block 3", members=[ann], bot_is_member=False)
    await ann.block_bot()
    await group.add_bot(by=ann)
    await group.remove_bot(by=ann)
    updates = await bot.get_updates()
    assert [u.event_type for u in updates] == ["my_chat_member", "my_chat_member", "message", "my_chat_member"]
    assert updates[0].my_chat_member.new_chat_member.status == "kicked"
    assert updates[1].my_chat_member.new_chat_member.status == "member"
    assert updates[3].my_chat_member.new_chat_member.status == "kicked"


async def test_language_code_is_mutable(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", language_code="zh-hans")
    await ann.send("你好")
    ann.language_code = "en"
    await ann.send("hello")
    assert [u.message.from_user.language_code for u in await bot.get_updates()] == ["zh-hans", "en"]


async def test_history_keeps_versions_and_transcripts_render(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", username="ann")
    group = emu.add_group("Block 3", members=[ann])
    await ann.send("/start")
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a"),
                                                      InlineKeyboardButton(text="B", callback_data="b")]])
    sent = await bot.send_message(ann.id, "Pick one\nor the other", reply_markup=keyboard)
    await bot.edit_message_text("Picked", chat_id=ann.id, message_id=sent.message_id)
    await bot.delete_message(ann.id, sent.message_id)
    await bot.send_message(group.id, "Hello, block 3")
    record = emu.messages(ann)[-1]
    assert [version["text"] for version in record.versions] == ["Pick one\nor the other", "Picked"]
    assert record.deleted and record.edited
    assert [event.kind for event in emu.history(ann)] == ["message", "message", "edit", "delete"]
    assert emu.transcripts() == {
        ann.id: ["Ann: /start", "bot #2: Pick one", "    or the other", "    [A] [B]", "bot edited #2: Picked",
                 "bot deleted #2"],
        group.id: ["bot #1: Hello, block 3"],
    }
    rendered = emu.render_transcripts()
    assert rendered.startswith(f"== private chat with Ann @ann ({ann.id}) ==\nAnn: /start")
    assert f"== supergroup 'Block 3' ({group.id}) ==\nbot #1: Hello, block 3" in rendered

"""One request's whole life with four people in four languages: a resident writing Arabic, the grid
leader in Chinese, a volunteer in Russian and a council member in Korean. Each sees every message
the bot sends them in their own language (and the Arabic ones right-to-left)."""
from __future__ import annotations

import re

from bot.services import deliberation
from tests.conftest import GRID_GROUP, LEADER, STAFF, STAFF_GROUP, VOL_GROUP, Harness, community, invite
from tests.test_council import data, past_deadline, proposal
from tests.tg import Person

AMAL = Person(700, "أمل", "ar")
IVAN = Person(701, "Иван", "ru")
MINJI = Person(702, "민지", "ko")
COUNCIL_GROUP = -1005

SCRIPTS = {
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "ru": re.compile(r"[\u0400-\u04ff]"),
    "ko": re.compile(r"[\uac00-\ud7af]"),
    "zh": re.compile(r"[\u4e00-\u9fff]"),
}
ENGLISH_WORDS = re.compile(r"\b(the|your|request|is|was|has|and|you)\b", re.I)


def strip_data(text: str) -> str:
    """Remove what is data, not interface: numbers like JMS-0001, names, the residents' own words."""
    for noise in ("JMS-P001", "JMS-0001", "鸡鸣山社区", "一网格", "Иван", "أمل", "민지", "李强", "王芳",
                  "The bins at the gate of building 7 have not been emptied", "Пакеты вынесены", "gongzhi_test_bot"):
        text = text.replace(noise, "")
    return text


def assert_in_language(h: Harness, chat_id: int, script: str) -> int:
    texts = [strip_data(s.text) for s in h.session.to(chat_id) if s.text]
    assert texts, f"{chat_id} got nothing"
    for t in texts:
        assert SCRIPTS[script].search(t), (chat_id, t)
        assert not ENGLISH_WORDS.search(t), (chat_id, t)
    return len(texts)


async def test_every_message_of_a_request_in_each_persons_language(harness: Harness):
    h = harness
    await community(h)
    await h.send(AMAL, f"/start {await invite(h, 'resident', '一网格')}")
    await h.send(IVAN, f"/start {await invite(h, 'volunteer')}")
    await h.send(MINJI, f"/start {await invite(h, 'council_member')}")
    h.session.admins[COUNCIL_GROUP] = {STAFF.id}
    await h.send(STAFF, "/bind council", chat_id=COUNCIL_GROUP)

    # Amal files privately (in English words, to prove the bot's own text is what follows her locale).
    await h.send(AMAL, "/new")
    await h.press(AMAL, h.session.last(AMAL.id).buttons()[0]["callback_data"])
    await h.send(AMAL, "The bins at the gate of building 7 have not been emptied")
    for _ in range(2):
        await h.press(AMAL, "sk")
    grids = h.session.last(AMAL.id).buttons()  # right to left in Arabic: pick by name, not position
    await h.press(AMAL, next(b["callback_data"] for b in grids if "一网格" in b["text"]))
    await h.press(AMAL, "sk")
    await h.press(AMAL, "cf")
    await h.deliver()

    # The grid leader sends it to the council; staff open the vote; Minji votes in private.
    card = h.session.last(GRID_GROUP)
    await h.press(LEADER, data(card, "tc:")[0], chat_id=GRID_GROUP)
    await h.deliver()
    p = await proposal(h)
    await h.press(STAFF, data(h.session.last_with_button(STAFF_GROUP, f"pp:{p.id}:1"), f"pp:{p.id}:1")[0], chat_id=STAFF_GROUP)
    await h.deliver()
    await h.send(MINJI, "/votes")
    await h.press(MINJI, f"vo:{p.id}:0")
    await past_deadline(h, p.id)
    await h.app.council.sweep()
    await h.deliver()

    # Ivan claims the task, reports progress and completes it; Amal signs off.
    task = h.session.last(VOL_GROUP)
    await h.press(IVAN, data(task, "tk:")[0], chat_id=VOL_GROUP)
    await h.deliver()
    req_id = int(data(task, "tk:")[0].split(":")[1])
    await h.press(IVAN, f"tk:{req_id}:1")
    await h.send(IVAN, "Пакеты вынесены")
    await h.press(IVAN, f"tk:{req_id}:2")
    await h.press(IVAN, "sk")
    await h.deliver()
    await h.press(AMAL, f"so:{req_id}:1")
    await h.press(AMAL, f"st:{req_id}:5")
    await h.deliver()

    assert assert_in_language(h, AMAL.id, "ar") >= 8
    assert all(s.text.startswith("\u200f") for s in h.session.to(AMAL.id) if s.text)
    assert assert_in_language(h, IVAN.id, "ru") >= 4
    assert assert_in_language(h, MINJI.id, "ko") >= 2
    assert assert_in_language(h, GRID_GROUP, "zh") >= 2  # the grid leader works in his grid's group
    assert deliberation  # the council service took part (imported for clarity of intent)

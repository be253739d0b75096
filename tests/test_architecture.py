"""The dependency rule (docs/architecture.md): services are plain Python. Importing any module of
`bot.services` must load neither aiogram nor the presentation layer (templates, keyboards, callback data),
so the services run the same from handlers, the scheduler, the CLI and tests."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot.services

ROOT = Path(__file__).resolve().parent.parent
# Every module, the stage modules of a service package too (bot.services.requests.intake, ...).
SERVICES = sorted(m.name for m in pkgutil.walk_packages(bot.services.__path__, "bot.services."))
PRESENTATION = ("bot.render", "bot.callbacks", "bot.notify", "handlers")

PROBE = """
import json, sys
import {module}
loaded = sorted(sys.modules)
print(json.dumps([m for m in loaded if m.split('.')[0] == 'aiogram' or m.startswith({presentation})]))
"""


def test_every_service_module_is_listed() -> None:
    assert {"bot.services.requests", "bot.services.notify", "bot.services.deliberation"} <= set(SERVICES)


@pytest.mark.parametrize("package", ["requests", "deliberation"])
def test_a_split_service_is_stage_modules_of_at_most_300_lines(package: str) -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "bot" / "services" / package).glob("*.py")}
    assert len(sizes) >= 5 and max(sizes.values()) <= 300, sizes
    assert {"bot.services.requests.moves", "bot.services.deliberation.voting"} <= set(SERVICES)


@pytest.mark.parametrize("module", SERVICES)
def test_service_imports_no_aiogram_and_no_presentation(module: str) -> None:
    """In a fresh interpreter, so what other tests imported cannot hide (or cause) a violation."""
    code = PROBE.format(module=module, presentation=repr(PRESENTATION))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_outbox_keys_are_typed_values() -> None:
    from bot.services.keys import OutboxKey

    assert str(OutboxKey("ask", 42)) == "ask:42"
    assert OutboxKey.parse("ask:42") == OutboxKey("ask", 42)
    assert OutboxKey.parse("digest:3:2026-W48") is None and OutboxKey.parse(None) is None
    assert OutboxKey.parse("ask:") is None


def test_statuses_keep_their_stored_values() -> None:
    """Enums over the values already stored: no data migration."""
    from storage.models import Outcome, Proposal, ProposalStatus, Survey, SurveyStatus

    assert [s.value for s in ProposalStatus] == ["draft", "open", "closed", "withdrawn"]
    assert [o.value for o in Outcome] == ["passed", "rejected", "no_quorum"]
    assert [s.value for s in SurveyStatus] == ["open", "closed"]
    assert Proposal.model_fields["status"].default == "draft" and Survey.model_fields["status"].default == "open"


async def test_every_check_runs_on_the_event_loop(harness):
    """aiogram sends a filter or handler that is a plain function (a magic filter, `F.…`) to its
    thread pool, a thread hand-off per check: none of ours goes there (`bot.app._checks_inline`)."""
    checked = 0
    for router in harness.dp.chain_tail:
        for observer in router.observers.values():
            for handler in observer.handlers:
                assert handler.awaitable, handler.callback
                for check in handler.filters or []:
                    assert check.awaitable, check.callback
                    checked += 1
    assert checked > 50  # the routers' filters were all seen

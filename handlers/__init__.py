"""aiogram routers, one module per workflow stage, assembled in one ordered list (catch-all last)."""
from __future__ import annotations

from aiogram import Router

from handlers import (accountability, admin, common, council, errors, fallback, group_intake, intake, menu, mine, partners,
                      points, propose, reports, settings, signoff, start, surveys, tasks, triage, wish_intake, wishes)
from handlers.routing import Stage

ORDER = (errors, common, start, settings, admin, intake, wish_intake, group_intake, triage, tasks, wishes, mine, signoff, menu,
         points, propose, council, surveys, reports, partners, accountability, fallback)


def build_root_router() -> Router:
    """A fresh router tree (each app instance gets its own; tests run several in one process)."""
    root = Stage(name="gongzhi")
    for module in ORDER:
        root.include_router(module.make_router())
    return root

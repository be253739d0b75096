"""Fill the source-language catalog (English) with msgstr = msgid, after `pybabel update`.

English is the language the msgids are written in, so its catalog is a copy; keeping it as a
real catalog lets the catalog test treat every shipped language the same way.
"""
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "en/LC_MESSAGES/messages.po")
with path.open("rb") as fh:
    catalog = read_po(fh, locale="en")
for message in catalog:
    if message.id:
        message.string = message.id
        message.flags.discard("fuzzy")
with path.open("wb") as fh:
    write_po(fh, catalog, width=100, omit_header=False)

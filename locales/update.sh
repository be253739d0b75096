#!/usr/bin/env bash
# Extract every translatable string, merge into each catalog, refill the English source catalog.
# New and changed strings then show as empty or fuzzy in the other catalogs: translate them
# (tests/test_catalogs.py fails until every catalog is complete).
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel extract -F babel.cfg -o locales/messages.pot --no-location --sort-output --project=gongzhi . 2>/dev/null
pybabel update -i locales/messages.pot -d locales --width=100 --ignore-obsolete --no-fuzzy-matching 2>/dev/null
python locales/fill_source.py

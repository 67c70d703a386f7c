#!/usr/bin/env bash
# The website tests drive Debian's Chromium through Playwright (Playwright's own browser
# download does not work offline). Install it when it is missing and we can; otherwise the
# browser tests skip with a reason (and fail under CI, where CI=true requires them).
set -euo pipefail
# AIBOOK_CHROMIUM (used by tests/test_site.py) may name another Chromium build, e.g. the
# Google Chrome that GitHub's ubuntu runners ship.
if [ -x "${AIBOOK_CHROMIUM:-/usr/bin/chromium}" ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"  # e.g. GitHub's runners: passwordless sudo
if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ensure_chromium: no Chromium and no root apt-get; browser tests will be skipped" >&2
fi

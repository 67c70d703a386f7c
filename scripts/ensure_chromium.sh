#!/usr/bin/env bash
# The website tests drive Debian's Chromium through Playwright (Playwright's own browser
# download does not work offline). Install it when it is missing and we can; otherwise the
# browser tests skip with a reason (and fail under CI, where CI=true requires them).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ensure_chromium: no Chromium and no root apt-get; browser tests will be skipped" >&2
fi

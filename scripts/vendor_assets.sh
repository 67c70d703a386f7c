#!/usr/bin/env bash
# Fetch the website's offline JavaScript from the npm registry into book/_vendor/ (gitignored):
#   mathjax/       MathJax 3 (es5 components and fonts): math renders without a CDN
#   requirejs/     RequireJS, which the ipywidgets AMD embed bundle needs
#   widgets/       @jupyter-widgets/html-manager's embed bundle: widgets render from saved state
# _config.yml points Sphinx (mathjax_path) and myst-nb (nb_ipywidgets_js) at these files;
# html_static_path copies them into _build/html/_static/. They are NOT under a `_static/`
# source folder, because Jupyter Book 1 adds every .js/.css there to every page.
# Usage: bash scripts/vendor_assets.sh [--force]      (does nothing when already fetched)
set -euo pipefail

MATHJAX=3.2.2
HTML_MANAGER=1.0.15   # @jupyter-widgets/html-manager for ipywidgets 8 (widget state v2)
REQUIREJS=2.3.8

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/book/_vendor"
STAMP="$DEST/.versions"
WANT="mathjax@$MATHJAX @jupyter-widgets/html-manager@$HTML_MANAGER requirejs@$REQUIREJS"

if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "vendor_assets: up to date ($WANT)"
  exit 0
fi
command -v npm >/dev/null || { echo "vendor_assets: npm is needed (apt-get install -y npm)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" \
   "requirejs@$REQUIREJS" >/dev/null)
for pkg in mathjax requirejs html-manager; do
  mkdir -p "$TMP/$pkg" && tar xzf "$TMP"/*"$pkg"-*.tgz -C "$TMP/$pkg"
done

rm -rf "$DEST" && mkdir -p "$DEST/mathjax" "$DEST/requirejs" "$DEST/widgets"
# MathJax: the CHTML combined component plus the pieces it loads lazily (TeX extensions,
# fonts, menu, accessibility); the SVG and "full" bundles are not used.
ES5="$TMP/mathjax/package/es5"
cp "$ES5"/{tex-chtml.js,tex-mml-chtml.js,startup.js,loader.js,core.js,latest.js} "$DEST/mathjax/"
cp -r "$ES5"/{input,output,ui,a11y,adaptors,sre} "$DEST/mathjax/"
rm -rf "$DEST/mathjax/output/svg" "$DEST/mathjax/output/svg.js"
cp "$TMP/mathjax/package/LICENSE" "$DEST/mathjax/LICENSE"
cp "$TMP/requirejs/package/require.js" "$DEST/requirejs/require.js"
# The embed bundle and the icon fonts its CSS points at (no source maps).
find "$TMP/html-manager/package/dist" -maxdepth 1 -type f ! -name '*.map' \
  -exec cp {} "$DEST/widgets/" \;
echo "$WANT" > "$STAMP"
echo "vendor_assets: fetched $WANT into ${DEST#"$ROOT"/} ($(du -sh "$DEST" | cut -f1))"

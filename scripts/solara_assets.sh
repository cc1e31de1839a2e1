#!/usr/bin/env bash
# Fill Solara's front-end asset cache from the npm registry so the dashboard renders offline.
# Versions are read from the installed solara's page template (solara.html.j2).
# Cache: $SOLARA_ASSETS_PROXY_CACHE_DIR, else <venv>/share/solara/cdn.
set -euo pipefail
PY="${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}"
PY="${PY:-python3}"
TEMPLATE=$("$PY" -c 'import solara, pathlib; print(pathlib.Path(solara.__file__).parent / "server/templates/solara.html.j2")')
PREFIX=$("$PY" -c 'import sys; print(sys.prefix)')
CACHE="${SOLARA_ASSETS_PROXY_CACHE_DIR:-$PREFIX/share/solara/cdn}"
SPECS=$(grep -o '{{cdn}}/[^/"]*\(/[^/@"]*\)\?@[0-9][^/"]*' "$TEMPLATE" | sed 's#{{cdn}}/##' | sort -u)
SETTINGS="$(dirname "$TEMPLATE")/../settings.py"
SPECS="$SPECS $(grep -o 'font-awesome@[0-9.]*' "$SETTINGS" | head -1)"
# solara.Markdown loads mermaid (diagrams) from the same CDN path
MARKDOWN="$(dirname "$TEMPLATE")/../../components/markdown.py"
SPECS="$SPECS $(grep -o 'mermaid@[0-9][0-9.]*' "$MARKDOWN" | head -1)"
TMP=$(mktemp -d /tmp/solara-assets-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
for spec in $SPECS; do
  if [ -d "$CACHE/$spec" ] && [ -n "$(ls -A "$CACHE/$spec")" ]; then continue; fi
  tgz=$(cd "$TMP" && npm pack "$spec" --silent | tail -1)
  mkdir -p "$CACHE/$spec"
  tar xzf "$TMP/$tgz" -C "$CACHE/$spec" --strip-components=1
  echo "cached $spec"
done
echo "solara assets in $CACHE"

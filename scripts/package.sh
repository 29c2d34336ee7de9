#!/usr/bin/env bash
# package.sh: builds the deployable Functions app root.
#
#   dist/app/      host.json, one folder per function (function.json), handler (linux/amd64)
#   dist/app.zip   the same, zipped (for `az functionapp deploy --src-path dist/app.zip`)
#
# azd runs it as the prepackage hook of service "api" (azure.yaml) and deploys dist/app.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

stage="dist/app"
rm -rf "$stage" dist/app.zip
mkdir -p "$stage"

# The Functions host runs on Linux x64; a static binary has no libc to mismatch.
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
  go build -trimpath -ldflags="-s -w" -o "$stage/handler" ./cmd/handler
chmod 0755 "$stage/handler"

cp host.json "$stage/"
count=0
for dir in */; do
  dir="${dir%/}"
  if [[ -f "$dir/function.json" && "$dir" != dist ]]; then
    mkdir -p "$stage/$dir"
    cp "$dir/function.json" "$stage/$dir/"
    count=$((count + 1))
  fi
done
if [[ "$count" -eq 0 ]]; then
  echo "package.sh: no function folders found (run: make functions)" >&2
  exit 1
fi

# Zip from inside the stage so host.json sits at the archive root; keep the executable bit.
if command -v zip >/dev/null 2>&1; then
  (cd "$stage" && zip -q -r -X ../app.zip .)
else
  (cd "$stage" && python3 -m zipfile -c ../app.zip host.json handler */)
fi
echo "package.sh: dist/app.zip with host.json, handler and ${count} functions"

#!/bin/sh
# ensure-chromium.sh installs Debian's chromium, the headless browser the report page test
# (cmd/handler TestReportPageInARealBrowser) loads the page in. Idempotent: nothing happens
# when a chromium is already there. Without root or apt-get it says so and leaves the test to
# skip with its own message; it never fails the build.
set -u
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: no chromium, and no root apt-get to install it; the browser test of the report page will skip" >&2
	exit 0
fi
echo "ensure-chromium: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; }; then
	echo "ensure-chromium: apt-get could not install chromium; the browser test of the report page will skip" >&2
fi
exit 0

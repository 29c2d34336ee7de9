#!/bin/sh
# After `azd deploy` (azd's postdeploy hook): the preflight of the deployed app, printed as
# `tourniquet doctor` prints it: what will work in this tenant and the fix for what will not.
# It only reads. It never fails the deployment: new app roles and directory roles can take up
# to an hour to reach the identity's tokens, so run it again later (docs/first-deployment.md).
set -u
app_url=${AZURE_FUNCTION_APP_URL:-}
rg=${AZURE_RESOURCE_GROUP:-}
app=${AZURE_FUNCTION_APP_NAME:-}
if [ -z "$app_url" ] || [ -z "$rg" ] || [ -z "$app" ]; then
  echo "postdeploy: AZURE_FUNCTION_APP_URL, AZURE_RESOURCE_GROUP or AZURE_FUNCTION_APP_NAME is not set; skipping the preflight"
  exit 0
fi
if [ "${AUTH_MODE:-functionkey}" = "easyauth" ]; then
  echo "postdeploy: AUTH_MODE=easyauth: call GET $app_url/api/preflight with a token that holds Tourniquet.Read"
  exit 0
fi
# A key of the preflight function only (never a host key).
key=$(az functionapp function keys set -g "$rg" -n "$app" --function-name http-preflight \
  --key-name azd-postdeploy --query value -o tsv 2>/dev/null) || key=""
if [ -z "$key" ]; then
  echo "postdeploy: could not get a key of http-preflight (az login? the app still starting?); run later:"
  echo "  TOURNIQUET_URL=$app_url TOURNIQUET_KEY=<key of http-preflight> tourniquet doctor"
  exit 0
fi
TOURNIQUET_URL=$app_url TOURNIQUET_KEY=$key go run ./cmd/tourniquet doctor
status=$?
case $status in
  0) echo "postdeploy: preflight ready" ;;
  3) echo "postdeploy: preflight degraded: the steps above work with less; see each fix" ;;
  1) echo "postdeploy: preflight blocked: the steps above cannot work until their fix is applied" ;;
  *) echo "postdeploy: the preflight could not be read (exit $status); run it again in a few minutes" ;;
esac
exit 0

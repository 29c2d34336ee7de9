#!/usr/bin/env bash
# assign-directory-roles.sh: assigns the Entra directory roles Tourniquet's managed identity
# needs and that Bicep cannot assign (docs/permissions.md says why each one):
#
#   Privileged Authentication Administrator  reset-password / revoke-sessions on any user, admins included
#   Exchange Administrator                   the Exchange cmdlets (Exchange.ManageAsApp alone runs none)
#   Privileged Role Administrator            remove-admin-roles: role-assignable group membership
#
# Idempotent: a role the identity already holds (active, tenant-wide) is left alone. With
# --dry-run it only reads and prints what it would assign. Run it as a Privileged Role
# Administrator or Global Administrator, after `az login` to the tenant.
#
# Usage: infra/assign-directory-roles.sh [--principal-id ID] [--dry-run]
#          [--exchange-role exchange-administrator|none] [--no-admin-role-removal]
#
#   --principal-id          object id of the function app's managed identity; default: the
#                           AZURE_FUNCTION_PRINCIPAL_ID output of `azd up` (azd env get-values)
#   --exchange-role none    skip Exchange Administrator, when you grant a scoped Exchange RBAC
#                           role group to the identity instead (docs/permissions.md)
#   --no-admin-role-removal skip Privileged Role Administrator (deployed with
#                           enableAdminRoleRemoval=false: no remove-admin-roles step)
set -euo pipefail

readonly GRAPH="https://graph.microsoft.com/v1.0"
# Built-in role template ids; for built-in roles the roleDefinitionId equals the template id.
readonly PRIVILEGED_AUTH_ADMIN="7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
readonly EXCHANGE_ADMIN="29232cdf-9323-42fd-ade2-1d097af3e4de"
readonly PRIVILEGED_ROLE_ADMIN="e8611ab8-c189-46e8-94e1-60213ab1f814"

principal_id=""
dry_run=false
exchange_role="exchange-administrator"
admin_role_removal=true

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --principal-id) principal_id="${2:-}"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --exchange-role) exchange_role="${2:-}"; shift 2 ;;
    --no-admin-role-removal) admin_role_removal=false; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ -z "$principal_id" ]] && command -v azd >/dev/null 2>&1; then
  principal_id="$(azd env get-value AZURE_FUNCTION_PRINCIPAL_ID 2>/dev/null || true)"
fi
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
if ! [[ "$principal_id" =~ $guid ]]; then
  echo "--principal-id must be the managed identity's object id (a GUID); got '${principal_id}'" >&2
  exit 2
fi
case "$exchange_role" in
  exchange-administrator|none) ;;
  *) echo "--exchange-role must be exchange-administrator or none" >&2; exit 2 ;;
esac

# role_name TEMPLATE_ID: the display name, for messages.
role_name() {
  case "$1" in
    "$PRIVILEGED_AUTH_ADMIN") echo "Privileged Authentication Administrator" ;;
    "$EXCHANGE_ADMIN") echo "Exchange Administrator" ;;
    "$PRIVILEGED_ROLE_ADMIN") echo "Privileged Role Administrator" ;;
  esac
}

# has_role TEMPLATE_ID: whether the identity holds the role tenant-wide (directoryScopeId "/").
has_role() {
  local filter count
  filter="principalId%20eq%20%27${principal_id}%27%20and%20roleDefinitionId%20eq%20%27$1%27"
  count="$(az rest --method get \
    --url "${GRAPH}/roleManagement/directory/roleAssignments?\$filter=${filter}" \
    --query "length(value[?directoryScopeId=='/'])" --output tsv)"
  [[ "$count" -gt 0 ]]
}

# assign TEMPLATE_ID: creates the active, permanent, tenant-wide assignment.
assign() {
  az rest --method post --url "${GRAPH}/roleManagement/directory/roleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"${principal_id}\",\"roleDefinitionId\":\"$1\",\"directoryScopeId\":\"/\"}" \
    --output none
}

roles=("$PRIVILEGED_AUTH_ADMIN")
[[ "$exchange_role" == "exchange-administrator" ]] && roles+=("$EXCHANGE_ADMIN")
[[ "$admin_role_removal" == true ]] && roles+=("$PRIVILEGED_ROLE_ADMIN")

# Make sure the principal exists before touching anything (a typo fails here, not halfway).
az rest --method get --url "${GRAPH}/servicePrincipals/${principal_id}?\$select=id,displayName" \
  --query displayName --output tsv >/dev/null

changed=0
for role in "${roles[@]}"; do
  name="$(role_name "$role")"
  if has_role "$role"; then
    echo "present   ${name}"
    continue
  fi
  if [[ "$dry_run" == true ]]; then
    echo "would add ${name}"
    continue
  fi
  assign "$role"
  echo "added     ${name}"
  changed=$((changed + 1))
done

if [[ "$dry_run" == true ]]; then
  echo "dry run: nothing changed"
else
  echo "${changed} role(s) assigned to ${principal_id}"
fi

# What a plan (`terraform show -json PLAN`) would still change, one line per resource:
#   <address>: <actions> [attributes that differ]
# Nothing is printed for a plan with nothing to do. ci/terraform.sh prints this when the plan
# right after an apply is not empty; infra/tests checks it on plan fixtures.
def changed_attributes:
  (.before // {}) as $before | (.after // {}) as $after | (.after_unknown // {}) as $unknown
  | [($before | keys[]), ($after | keys[])] | unique
  | map(select($before[.] != $after[.] or ($unknown[.] // false) == true));

.resource_changes[]?
| select(.change.actions != ["no-op"] and .change.actions != ["read"])
| "\(.address): \(.change.actions | join("+"))"
  + (if .change.actions == ["update"]
     then " [" + (.change | changed_attributes | join(", ")) + "]"
     else "" end)

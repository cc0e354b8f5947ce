# Shared by the tools/*.sh scripts that fetch from a package registry. Source it; it defines
# functions only.

# retry <cmd...>: registries fail now and then; a second or third try (after a short pause) is
# cheap, since whatever was fetched or compiled before the failure is cached.
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    if [[ $n == 3 ]]; then
      echo "  failed 3 times: $* (rerun the same command: what was fetched is kept)" >&2
      return 1
    fi
    echo "  (failed; retrying in $((n * 10)) s)" >&2
    sleep $((n * 10))
  done
}

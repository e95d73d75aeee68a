# Sourced by the scripts (sh): quiet CMD... runs CMD with its output held
# back, and shows the whole output when it fails (returning its failure).
quiet() {
	quiet_log=$(mktemp)
	if "$@" >"$quiet_log" 2>&1; then rm -f "$quiet_log"; return 0; fi
	cat "$quiet_log" >&2
	rm -f "$quiet_log"
	return 1
}

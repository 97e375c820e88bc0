# lib.sh — shell shared by the bench scripts; source it, do not run it.
#
#   bench_setup NAME          build $BIN from this tree (NO_BUILD=1: run $BIN as it is), lift
#                             the descriptor limit; NAME prefixes messages
#   start_server LOG ARGS...  start `${SERVER_BIN:-$BIN} serve --dev` on a port the kernel picks (plus
#                             ARGS), wait until /readyz answers; sets server_pid and URL
#                             (ws://127.0.0.1:PORT/ws). A server already running
#                             elsewhere is never hit.
#   stop_server               interrupt the server and wait for it (also on EXIT)
#   start_publisher LOG URL ARGS...
#                             `${PUB:-$BIN} publish --url URL -q ARGS` in the background;
#                             sets pub_pid
#   stop_publisher            interrupt the publisher and wait for it (also on EXIT)
#   free_udp_port             print a UDP port free on 127.0.0.1
#   JQ_MED                    jq definition of med (the median, lower of the two middles)
#
# Callers set BIN, and may set PRIO (an array: a command prefix such as
# `nice -n -10` for the server). SERVER_BIN, when set, is the server's
# binary (e.g. an older build, for a baseline run beside the current
# bench; bench_setup builds only $BIN). BIN is rebuilt from this tree
# unless NO_BUILD=1: an older build passed as BIN without it would be
# overwritten with the current code.

bench_name=bench
server_pid=""
pub_pid=""
URL=""
JQ_MED='def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;'

bench_setup() {
	bench_name=$1
	if [ "${NO_BUILD:-0}" = 1 ]; then
		[ -x "$BIN" ] || { echo "$bench_name: NO_BUILD=1 but $BIN is not an executable" >&2; exit 2; }
		echo "$bench_name: running $BIN as it is (NO_BUILD=1)" >&2
	else
		echo "$bench_name: building $BIN from this tree (NO_BUILD=1 runs an existing BIN as it is)" >&2
		mkdir -p "$(dirname "$BIN")"
		go build -o "$BIN" ./cmd/livectl
	fi
	# Each process may hold up to the hard descriptor limit.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	trap 'stop_publisher; stop_server' EXIT
}

free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_server() {
	local log=$1
	shift
	${PRIO[@]+"${PRIO[@]}"} "${SERVER_BIN:-$BIN}" serve --dev --listen "127.0.0.1:0" --admin-listen "" "$@" >"$log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		URL=$(grep -o 'ws://127\.0\.0\.1:[0-9]*/ws' "$log" | head -1 || true)
		if [ -n "$URL" ] && kill -0 "$server_pid" 2>/dev/null &&
			curl -fsS "$(echo "$URL" | sed 's|^ws:|http:|; s|/ws$|/readyz|')" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "$bench_name: livectl serve did not become ready; see $log" >&2
	cat "$log" >&2
	exit 1
}

stop_server() {
	if [ -n "$server_pid" ]; then
		kill -INT "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}

start_publisher() {
	local log=$1 url=$2
	shift 2
	"${PUB:-$BIN}" publish --url "$url" -q "$@" >"$log" 2>&1 &
	pub_pid=$!
}

stop_publisher() {
	if [ -n "$pub_pid" ]; then
		kill -INT "$pub_pid" 2>/dev/null || true
		wait "$pub_pid" 2>/dev/null || true
		pub_pid=""
	fi
}

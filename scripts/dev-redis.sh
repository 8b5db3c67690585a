#!/usr/bin/env bash
# dev-redis.sh prints the one Redis URL "make run" should use, on stdout.
# Every other message goes to stderr. In order of preference:
#
#   1. $REDIS_URL, when set;
#   2. a Redis that answers PING on 127.0.0.1:6379;
#   3. a private redis-server on 127.0.0.1:6390, started here (or reused),
#      keeping nothing on disk; "make stop-redis" stops it;
#   4. otherwise memory://, authd's embedded store (development only).
#
# DEV_REDIS_PROBE_PORT replaces 6379 in step 2 (point it at a closed port to
# try step 3 on a machine that runs its own Redis).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_dir="$root/.run"
probe_port="${DEV_REDIS_PROBE_PORT:-6379}"
private_port=6390

# answers PORT: does something on 127.0.0.1:PORT reply +PONG to PING?
# timeout bounds the whole exchange, so a silent listener cannot hang us.
answers() {
	timeout 2 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "PING\r\n" >&3
		IFS= read -r reply <&3 || exit 1
		[[ $reply == +PONG* ]]
	' answers "$1" 2>/dev/null
}

# 1. An explicit choice wins.
if [[ -n "${REDIS_URL:-}" ]]; then
	echo "dev-redis: using REDIS_URL from the environment" >&2
	printf '%s\n' "$REDIS_URL"
	exit 0
fi

# 2. The machine's own Redis.
if answers "$probe_port"; then
	echo "dev-redis: using the Redis on 127.0.0.1:$probe_port" >&2
	printf 'redis://127.0.0.1:%s/0\n' "$probe_port"
	exit 0
fi

# 3. A private redis-server for development.
if command -v redis-server >/dev/null 2>&1; then
	url="redis://127.0.0.1:$private_port/0"
	if answers "$private_port"; then
		echo "dev-redis: reusing the private redis-server on 127.0.0.1:$private_port (stop it with: make stop-redis)" >&2
		printf '%s\n' "$url"
		exit 0
	fi
	mkdir -p "$run_dir"
	: >"$run_dir/redis.log" # so that a failure below shows this attempt's log only
	redis-server --port "$private_port" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize yes --pidfile "$run_dir/redis.pid" \
		--logfile "$run_dir/redis.log" --dir "$run_dir" >&2
	deadline=$((SECONDS + 5))
	while ((SECONDS < deadline)); do
		if answers "$private_port"; then
			echo "dev-redis: started a private redis-server on 127.0.0.1:$private_port (stop it with: make stop-redis)" >&2
			printf '%s\n' "$url"
			exit 0
		fi
		sleep 0.1
	done
	echo "dev-redis: redis-server did not answer on 127.0.0.1:$private_port within 5 s; end of $run_dir/redis.log:" >&2
	tail -n 20 "$run_dir/redis.log" >&2 2>/dev/null || true
	exit 1
fi

# 4. Nothing installed: authd's embedded store, inside the server process.
cat >&2 <<MSG
dev-redis: REDIS_URL is not set, nothing answers PING on 127.0.0.1:$probe_port and
redis-server is not installed: using the embedded store (REDIS_URL=memory://).
Sessions live in the authd process, for development only: they end when it
stops. For a real Redis, install one (Debian/Ubuntu: apt-get install -y
redis-server) or point authd at yours: REDIS_URL=redis://host:port/db make run
MSG
printf '%s\n' "memory://"

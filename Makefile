# Short by design: every target is one or two commands. "make" lists them.
.DEFAULT_GOAL := help
.PHONY: help build run test test-failover lint bench bench-go fuzz stop-redis clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## compile bin/authd
	go build -o bin/authd ./cmd/authd

# The URL is captured first so that, when scripts/dev-redis.sh fails, make
# stops with its message instead of starting the server without Redis.
run: build ## build, pick a Redis (scripts/dev-redis.sh) and serve on localhost:8080
	@url="$$(scripts/dev-redis.sh)" && REDIS_URL="$$url" exec bin/authd serve

test: ## run every test with the race detector (needs redis-server; TEST_POSTGRES_URL adds PostgreSQL)
	go test -race -count=1 -timeout=20m ./...

# make test fails over 3 times; this runs the failover test for 20 rounds
# (about 3 minutes: each rejoin waits for the sentinels to see the replica).
test-failover: ## fail a Sentinel deployment over 20 times: no ended session comes back
	AUTHD_FAILOVER_ROUNDS=20 go test -race -count=1 -timeout=10m -run '^TestRevocationsSurviveFailover$$' -v ./internal/session

lint: ## fail on unformatted files, then go vet
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then \
		echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

# A private redis-server and bin/authd, every scenario in one run, one table;
# BENCHFLAGS passes flags on (make bench BENCHFLAGS='-duration 10s').
bench: build ## run authd end to end under load (cmd/authbench) and print a table
	go run ./cmd/authbench -authd bin/authd $(BENCHFLAGS)

bench-go: ## run the Go micro-benchmarks
	go test -run='^$$' -bench=. -benchmem ./...

# Each target runs for FUZZTIME; the seed corpora already run in make test.
FUZZTIME ?= 30s
fuzz: ## fuzz the parsers that face users, FUZZTIME (default 30s) each
	go test -run='^$$' -fuzz='^FuzzLocalRedirect$$' -fuzztime=$(FUZZTIME) ./internal/server
	go test -run='^$$' -fuzz='^FuzzDecodeCredentials$$' -fuzztime=$(FUZZTIME) ./internal/server
	go test -run='^$$' -fuzz='^FuzzRequestToken$$' -fuzztime=$(FUZZTIME) ./internal/session
	go test -run='^$$' -fuzz='^FuzzCodecDecode$$' -fuzztime=$(FUZZTIME) ./internal/session
	go test -run='^$$' -fuzz='^FuzzTarget$$' -fuzztime=$(FUZZTIME) ./internal/forwardauth

# Checks the pid still names a redis-server: a stale file must not kill
# whatever process reused the number.
stop-redis: ## stop the private redis-server that make run started on port 6390
	@pid="$$(cat .run/redis.pid 2>/dev/null)"; \
	if [ -z "$$pid" ]; then echo "no private redis-server to stop (.run/redis.pid is absent)"; \
	elif [ "$$(ps -o comm= -p "$$pid")" = redis-server ] && kill "$$pid"; then echo "stopped redis-server (pid $$pid)"; \
	else echo "redis-server (pid $$pid) was not running"; fi; \
	rm -f .run/redis.pid

clean: ## remove bin/ and .run/
	rm -rf bin .run

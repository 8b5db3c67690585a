package loadtest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ParseInfo parses the text of a Redis INFO reply into field: value pairs.
// Section headers ("# Memory"), blank lines and lines without a colon are
// skipped; CRLF and LF line ends are both accepted.
func ParseInfo(text string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// InfoInt returns an integer field of a parsed INFO reply.
func InfoInt(fields map[string]string, name string) (int64, error) {
	v, ok := fields[name]
	if !ok {
		return 0, fmt.Errorf("INFO has no field %q", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO field %s=%q is not an integer", name, v)
	}
	return n, nil
}

// CommandCalls is the number of calls of each Redis command, by lower-case
// name ("get", "set", "client|setname"), as INFO commandstats reports them.
type CommandCalls map[string]int64

// ParseCommandStats reads the calls= count of every cmdstat_ line of an
// INFO commandstats reply, such as
//
//	cmdstat_get:calls=21,usec=175,usec_per_call=8.33,rejected_calls=0,failed_calls=0
func ParseCommandStats(text string) (CommandCalls, error) {
	calls := CommandCalls{}
	for k, v := range ParseInfo(text) {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		found := false
		for part := range strings.SplitSeq(v, ",") {
			if n, ok := strings.CutPrefix(part, "calls="); ok {
				c, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats %s: calls=%q is not an integer", k, n)
				}
				calls[name], found = c, true
			}
		}
		if !found {
			return nil, fmt.Errorf("commandstats %s: no calls= in %q", k, v)
		}
	}
	return calls, nil
}

// Sub returns the calls made between the snapshot before and c.
// Commands whose count did not change are left out.
func (c CommandCalls) Sub(before CommandCalls) CommandCalls {
	d := CommandCalls{}
	for name, n := range c {
		if n -= before[name]; n != 0 {
			d[name] = n
		}
	}
	return d
}

// Command kinds, for counting Redis work per request.
const (
	KindRead  = "read"
	KindWrite = "write"
	KindOther = "other" // connection and server commands: PING, INFO, HELLO…
)

// readCommands only read keys. Anything that may change a key, scripts
// included, counts as a write; anything that touches no key is "other".
var readCommands = map[string]bool{
	"get": true, "mget": true, "getrange": true, "strlen": true, "exists": true,
	"ttl": true, "pttl": true, "expiretime": true, "pexpiretime": true, "type": true,
	"hget": true, "hmget": true, "hgetall": true, "hexists": true, "hlen": true,
	"smembers": true, "sismember": true, "scard": true,
	"zrange": true, "zrangebyscore": true, "zscore": true, "zcard": true, "zcount": true,
	"lrange": true, "llen": true, "scan": true, "keys": true, "dbsize": true,
	"eval_ro": true, "evalsha_ro": true, "fcall_ro": true,
}

var otherCommands = map[string]bool{
	"ping": true, "info": true, "hello": true, "auth": true, "select": true,
	"echo": true, "quit": true, "reset": true, "command": true, "config": true,
	"multi": true, "exec": true, "discard": true, "watch": true, "unwatch": true,
	"memory": true, "time": true, "debug": true, "flushall": true, "flushdb": true,
}

// Kind says whether a command (as named in commandstats) reads, writes or
// does neither. Subcommands ("client|setname") are "other".
func Kind(name string) string {
	switch {
	case readCommands[name]:
		return KindRead
	case otherCommands[name] || strings.Contains(name, "|"):
		return KindOther
	}
	return KindWrite
}

// PerRequest summarises a commandstats delta over n requests.
type PerRequest struct {
	Reads, Writes, Other float64
	// ByCommand is each command's calls per request, e.g. {"get": 1, "set": 0.03}.
	ByCommand map[string]float64
}

// Per divides the delta by the number of requests that caused it.
func (c CommandCalls) Per(n int) PerRequest {
	p := PerRequest{ByCommand: map[string]float64{}}
	if n <= 0 {
		return p
	}
	for name, calls := range c {
		per := float64(calls) / float64(n)
		p.ByCommand[name] = per
		switch Kind(name) {
		case KindRead:
			p.Reads += per
		case KindWrite:
			p.Writes += per
		default:
			p.Other += per
		}
	}
	return p
}

// Breakdown lists the commands, most frequent first, as "get 1.000, set 0.033".
func (p PerRequest) Breakdown() string {
	names := slices.Collect(maps.Keys(p.ByCommand))
	slices.SortFunc(names, func(a, b string) int {
		if d := p.ByCommand[b] - p.ByCommand[a]; d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.3f", strings.ToUpper(n), p.ByCommand[n])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

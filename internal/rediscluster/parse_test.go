package rediscluster

import "testing"

// CLUSTER SLOTS may name a node by an empty host (its own, with
// cluster-preferred-endpoint-type) or "?" (unknown): the first is the
// answering node's host, the second leaves the range without a primary
// rather than sending its keys to a wrong address.
func TestParseSlotsEndpoints(t *testing.T) {
	t.Parallel()
	node := func(host string, port int64) []any { return []any{[]byte(host), port, []byte("id")} }
	reply := []any{
		[]any{int64(0), int64(99), node("10.0.0.1", 7000)},
		[]any{int64(100), int64(199), node("", 7001)},
		[]any{int64(200), int64(299), node("?", 7002)},
	}
	m, err := parseSlots(reply, "10.0.0.9:7009")
	if err != nil {
		t.Fatal(err)
	}
	for slot, want := range map[int]string{0: "10.0.0.1:7000", 99: "10.0.0.1:7000", 150: "10.0.0.9:7001", 250: "", 300: ""} {
		if m[slot] != want {
			t.Errorf("slot %d → %q, want %q", slot, m[slot], want)
		}
	}
	if got := withHost(":7005", "10.0.0.9:7009"); got != "10.0.0.9:7005" {
		t.Errorf("MOVED to :7005 from 10.0.0.9 → %q", got)
	}
	if got := withHost("10.0.0.2:7005", "10.0.0.9:7009"); got != "10.0.0.2:7005" {
		t.Errorf("MOVED to 10.0.0.2:7005 → %q", got)
	}
	if _, err := parseSlots([]any{[]any{int64(5), int64(2), node("h", 1)}}, "x:1"); err == nil {
		t.Error("a range that ends before it starts was accepted")
	}
}

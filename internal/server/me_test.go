package server

import (
	"encoding/json"
	"testing"
	"time"
)

// GET /api/me's hand-assembled JSON is byte for byte what encoding/json
// writes for the same struct, for names that need escaping and for the
// times sessions carry.
func TestMeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	names := []string{"", "alice", `quo"te\back`, "<script>&amp;", "tab\tnew\nline\x00\x1f", "línea ☃ 日本",
		"sep\u2028\u2029", "bad\xffutf8\xc3", "\U0001F600"}
	times := []time.Time{{}, time.Unix(1764000000, 0).UTC(), time.Unix(1764000000, 123456789).UTC(),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}
	for _, name := range names {
		for i, at := range times {
			methods := [][]string{nil, {}, {"pwd"}, {"pwd", "otp", `q"<`}}[i%4]
			m := meJSON{User: sessionUser{ID: int64(i*1_000_003 - 1), Name: name, SignedInAt: at, ExpiresAt: times[(i+1)%len(times)], Methods: methods}}
			want, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			if got := m.appendJSON(nil); string(got) != string(want) {
				t.Errorf("name %q, time %v:\n got %s\nwant %s", name, at, got, want)
			}
		}
	}
}

// BenchmarkMeJSON compares the hand-assembled answer with encoding/json.
func BenchmarkMeJSON(b *testing.B) {
	m := meJSON{User: sessionUser{ID: 42, Name: "user000042", SignedInAt: time.Unix(1764000000, 0).UTC(), ExpiresAt: time.Unix(1764043200, 0).UTC()}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.appendJSON(make([]byte, 0, 160))
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := json.Marshal(m)
			_ = append(v, '\n')
		}
	})
}

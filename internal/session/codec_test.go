package session

import (
	"maps"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func sampleRecord() map[string]any {
	return map[string]any{
		keyUserID: int64(42), keyName: "Zoë", keySignedIn: int64(1795000000123), keySeen: int64(1795000060456),
		keyEpoch: int64(3), keyIdle: int64(1800000), keyRemember: true, keyAddr: "2001:db8::1", keyAgent: "Firefox on Linux",
	}
}

func TestCodecRoundTrip(t *testing.T) {
	deadline := time.UnixMilli(1795043200789)
	for _, values := range []map[string]any{sampleRecord(), {}, {keyUserID: int64(-1), keyRemember: false}} {
		b, err := Codec{}.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		d, got, err := Codec{}.Decode(b)
		if err != nil || !d.Equal(deadline) || !maps.Equal(got, values) {
			t.Fatalf("round trip of %v: %v %v %v", values, d, got, err)
		}
	}
	b, _ := Codec{}.Encode(deadline, sampleRecord())
	gob, _ := scs.GobCodec{}.Encode(deadline, sampleRecord())
	if len(b) > 80 || len(b)*3 > len(gob) {
		t.Errorf("record is %d bytes (gob: %d): want a compact record", len(b), len(gob))
	}
	// Records written by gob before the per-user index existed are refused:
	// they could be neither listed nor revoked.
	if _, _, err := (Codec{}).Decode(gob); err == nil {
		t.Error("a gob record was decoded")
	}
}

func TestCodecRefusesUnknownValues(t *testing.T) {
	for _, values := range []map[string]any{
		{"other": int64(1)},
		{keyUserID: "not an int"},
		{keyRemember: int64(1)},
		{keyName: string(make([]byte, maxFieldLen+1))},
	} {
		if _, err := (Codec{}).Encode(time.Now(), values); err == nil {
			t.Errorf("Encode(%v) succeeded", values)
		}
	}
}

// FuzzCodecDecode: whatever Redis holds under a session key, decoding
// returns an error or values that encode back to the same bytes, and never
// panics or allocates without bound.
func FuzzCodecDecode(f *testing.F) {
	b, _ := Codec{}.Encode(time.UnixMilli(1795043200789), sampleRecord())
	f.Add(b)
	f.Add([]byte{codecVersion})
	f.Add([]byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, values, err := Codec{}.Decode(b)
		if err != nil {
			return
		}
		again, err := Codec{}.Encode(d, values)
		if err != nil {
			t.Fatalf("decoded values do not encode: %v", err)
		}
		d2, values2, err := Codec{}.Decode(again)
		if err != nil || !d2.Equal(d) || !maps.Equal(values, values2) {
			t.Fatalf("re-decode differs: %v %v %v", d2, values2, err)
		}
	})
}

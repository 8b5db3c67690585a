package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Codec encodes session records for Redis; the Manager uses it, and it is
// exported for tools that read or rewrite records (cmd/authbench). scs's default, gob, spends ~300
// bytes on the nine values of a record (type names travel with every
// interface value); this fixed layout needs ~70, which roughly halves the
// Redis memory of a session. Records in any other format (gob, from before
// the per-user index existed) are refused: such a session could not be
// listed or revoked, so it is treated as signed out and deleted.
//
// Layout: version byte, presence bitmask (uvarint), deadline (unix ms,
// varint), then each present field in fields order: int64 as varint, bool
// as one byte, string as uvarint length and bytes.
type Codec struct{}

var _ scs.Codec = Codec{}

const codecVersion = 0xA1 // not a plausible first byte of a gob stream of a record

type fieldKind uint8

const (
	kindInt fieldKind = iota
	kindBool
	kindString
)

// fields is the fixed order of the values a record may hold. Append only:
// a field's position is its bit in the presence mask.
var fields = []struct {
	key  string
	kind fieldKind
}{
	{keyUserID, kindInt}, {keyName, kindString}, {keySignedIn, kindInt}, {keySeen, kindInt},
	{keyEpoch, kindInt}, {keyIdle, kindInt}, {keyRemember, kindBool}, {keyAddr, kindString},
	{keyAgent, kindString}, {keyKind, kindString}, {keyClient, kindString},
	{keyPending, kindBool}, {keyMethods, kindString}, {keyAuthAt, kindInt},
}

// maxFieldLen bounds a string field, so a corrupt length cannot make Decode
// allocate much.
const maxFieldLen = 1 << 12

// Encode implements scs.Codec. A value of an unknown key or type is an
// error rather than silently dropped.
func (Codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var mask uint64
	b := make([]byte, 0, 96)
	b = append(b, codecVersion)
	body := make([]byte, 0, 96)
	body = binary.AppendVarint(body, deadline.UnixMilli())
	seen := 0
	for i, f := range fields {
		v, ok := values[f.key]
		if !ok {
			continue
		}
		seen++
		mask |= 1 << i
		switch f.kind {
		case kindInt:
			n, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("session: encode %s: %T is not int64", f.key, v)
			}
			body = binary.AppendVarint(body, n)
		case kindBool:
			t, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("session: encode %s: %T is not bool", f.key, v)
			}
			if t {
				body = append(body, 1)
			} else {
				body = append(body, 0)
			}
		case kindString:
			s, ok := v.(string)
			if !ok || len(s) > maxFieldLen {
				return nil, fmt.Errorf("session: encode %s: not a string of at most %d bytes", f.key, maxFieldLen)
			}
			body = binary.AppendUvarint(body, uint64(len(s)))
			body = append(body, s...)
		}
	}
	if seen != len(values) {
		return nil, errors.New("session: encode: a value has an unknown key")
	}
	b = binary.AppendUvarint(b, mask)
	return append(b, body...), nil
}

var errCorrupt = errors.New("session: corrupt record")

// Decode implements scs.Codec.
func (Codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return time.Time{}, nil, errCorrupt
	}
	b = b[1:]
	mask, n := binary.Uvarint(b)
	if n <= 0 || mask>>len(fields) != 0 {
		return time.Time{}, nil, errCorrupt
	}
	b = b[n:]
	deadline, n := binary.Varint(b)
	if n <= 0 {
		return time.Time{}, nil, errCorrupt
	}
	b = b[n:]
	values := make(map[string]any, len(fields))
	for i, f := range fields {
		if mask&(1<<i) == 0 {
			continue
		}
		switch f.kind {
		case kindInt:
			v, n := binary.Varint(b)
			if n <= 0 {
				return time.Time{}, nil, errCorrupt
			}
			values[f.key], b = v, b[n:]
		case kindBool:
			if len(b) == 0 || b[0] > 1 {
				return time.Time{}, nil, errCorrupt
			}
			values[f.key], b = b[0] == 1, b[1:]
		case kindString:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > maxFieldLen || uint64(len(b)-n) < l {
				return time.Time{}, nil, errCorrupt
			}
			values[f.key], b = string(b[n:n+int(l)]), b[n+int(l):]
		}
	}
	if len(b) != 0 {
		return time.Time{}, nil, errCorrupt
	}
	return time.UnixMilli(deadline), values, nil
}

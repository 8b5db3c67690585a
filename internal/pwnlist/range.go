package pwnlist

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// rangeClient asks the Pwned Passwords range API whether a password is
// known, with k-anonymity: only the first five hex digits of its SHA-1 leave
// the server, and the answer lists every suffix sharing them. Add-Padding
// makes the service pad each answer with fake suffixes (count 0), so that
// its size does not tell which prefix was asked for.
type rangeClient struct {
	url    string
	client *http.Client
	log    *slog.Logger
}

// maxRangeBody bounds an answer (a real one is ~30 KB, padded ~40 KB).
const maxRangeBody = 1 << 20

func newRangeClient(o Options) *rangeClient {
	rc := &rangeClient{url: o.RangeURL, client: o.Client, log: o.Log}
	if rc.client == nil {
		rc.client = &http.Client{Timeout: 2 * time.Second}
	}
	if rc.log == nil {
		rc.log = slog.New(slog.DiscardHandler)
	}
	return rc
}

// breached reports whether the service lists pw. It fails open: when the
// service cannot be asked, the password is accepted and a line is logged,
// so that an outage there never stops anyone from choosing a password.
func (rc *rangeClient) breached(ctx context.Context, pw string) bool {
	sum := sha1.Sum([]byte(pw))
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:5], digest[5:]
	found, err := rc.lookup(ctx, prefix, suffix)
	if err != nil {
		rc.log.Warn("pwned passwords range API unreachable; password accepted unchecked", "err", err)
		return false
	}
	return found
}

func (rc *rangeClient) lookup(ctx context.Context, prefix, suffix string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.url+prefix, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "authd")
	resp, err := rc.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("range API answered %s", resp.Status)
	}
	// Each line is SUFFIX:COUNT (35 hex digits, then a decimal count).
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxRangeBody))
	for sc.Scan() {
		s, count, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || !strings.EqualFold(s, suffix) {
			continue
		}
		n, err := strconv.Atoi(count)
		if err != nil {
			return false, fmt.Errorf("range API: malformed count %q", count)
		}
		// Padding lines have count 0: not a breached password.
		return n > 0, nil
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("range API: read: %w", err)
	}
	return false, nil
}

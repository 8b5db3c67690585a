package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// The token scenarios (issue 8):
//
//	10  POST /oauth/token, password grant, against raw bcrypt (10r), in
//	    alternating rounds like scenario 3
//	11  POST /oauth/token, refresh grant: each client rotates its own
//	    family, one Lua script per refresh; plus Redis memory of one token
//	    session (record, index entry, family, grace key)
//	12  GET /api/me with a session cookie (12c) and with an access JWT
//	    (12j: ES256 verification plus the sid read), alternating rounds

// tokenScenarios runs 10, 11 and 12 as asked.
func (b *bench) tokenScenarios(ctx context.Context, rep *Report) error {
	if b.opts.runs(10) {
		if err := b.passwordGrantRate(ctx, rep); err != nil {
			return fmt.Errorf("scenario 10: %w", err)
		}
	}
	if b.opts.runs(11) {
		if err := b.refreshRate(ctx, rep); err != nil {
			return fmt.Errorf("scenario 11: %w", err)
		}
	}
	if b.opts.runs(12) {
		if err := b.jwtVsCookie(ctx, rep); err != nil {
			return fmt.Errorf("scenario 12: %w", err)
		}
	}
	return nil
}

// tokenPair is a token endpoint answer.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// postToken POSTs a form to /oauth/token and decodes a 200 answer.
func (b *bench) postToken(ctx context.Context, client *http.Client, form url.Values) (tokenPair, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenPair{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return tokenPair{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenPair{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return tokenPair{}, fmt.Errorf("POST /oauth/token: status %d: %.200s", resp.StatusCode, body)
	}
	var p tokenPair
	if err := json.Unmarshal(body, &p); err != nil {
		return tokenPair{}, fmt.Errorf("POST /oauth/token: %w", err)
	}
	return p, nil
}

func (b *bench) grant(ctx context.Context, client *http.Client) (tokenPair, error) {
	return b.postToken(ctx, client, url.Values{"grant_type": {"password"}, "username": {benchUser}, "password": {benchPassword}, "client_id": {"authbench"}})
}

// passwordGrantRate runs scenario 10, as scenario 3 with the password grant.
func (b *bench) passwordGrantRate(ctx context.Context, rep *Report) error {
	op := func(ctx context.Context, _ int, _ uint64) error {
		_, err := b.grant(ctx, b.client)
		return err
	}
	return b.againstBcrypt(ctx, "10", "password grant over HTTP", op, &rep.GrantBcrypt, &rep.PasswordGrant)
}

// refreshRate runs scenario 11.
func (b *bench) refreshRate(ctx context.Context, rep *Report) error {
	o := b.opts
	refresh := make([]string, o.Workers)
	for i := range refresh {
		p, err := b.grant(ctx, b.client)
		if err != nil {
			return err
		}
		refresh[i] = p.RefreshToken
	}
	mem, err := tokenSessionMemory(ctx, b.pool, refresh[0])
	if err != nil {
		return err
	}
	rep.TokenSessionBytes = mem
	op := func(ctx context.Context, worker int, _ uint64) error {
		p, err := b.postToken(ctx, b.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[worker]}})
		if err != nil {
			return err
		}
		refresh[worker] = p.RefreshToken // only this worker touches its slot
		return nil
	}
	b.progress("11: refresh grant, %d clients (one family each), %s", o.Workers, o.Duration)
	before, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	if rep.Refresh, err = b.measure(func() (Result, error) { return Closed(ctx, o.Workers, o.Duration, op) }); err != nil {
		return err
	}
	after, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	per := after.Sub(before).Per(rep.Refresh.Count)
	rep.RefreshCommands = &per
	return nil
}

// tokenSessionMemory is what MEMORY USAGE says of the keys of the token
// session a refresh token names: record, family and the grace key
// (there is none before the first refresh), with the index entry's share
// counted as the index's size (one member).
func tokenSessionMemory(ctx context.Context, pool *redis.Pool, rt string) (int64, error) {
	id, _, ok := strings.Cut(rt, ".")
	if !ok || len(id) != 24 {
		return 0, fmt.Errorf("refresh token %q has no session id", rt)
	}
	c, err := pool.GetContext(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	tag, rest := id[:2], id[2:]
	var total int64
	for _, k := range []string{keyPrefix + "{" + tag + "}" + rest, keyPrefix + "{" + tag + "}r:" + rest} {
		n, err := redis.Int64(redis.DoContext(c, ctx, "MEMORY", "USAGE", k, "SAMPLES", "0"))
		if err != nil {
			return 0, fmt.Errorf("MEMORY USAGE %s: %w", k, err)
		}
		total += n
	}
	return total, nil
}

// jwtVsCookie runs scenario 12 over one JWT per client, from password
// grants, and the minted cookie sessions.
func (b *bench) jwtVsCookie(ctx context.Context, rep *Report) error {
	o := b.opts
	jwts := make([]string, o.Workers)
	for i := range jwts {
		p, err := b.grant(ctx, b.client)
		if err != nil {
			return err
		}
		jwts[i] = p.AccessToken
	}
	withJWT := func(ctx context.Context, worker int, _ uint64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/me", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+jwts[worker])
		return do(b.client, req, http.StatusOK)
	}
	withCookie := b.get(b.client, "/api/me", b.protectedCookie())
	for round := range o.Rounds {
		b.progress("12c: GET /api/me with a cookie, %d clients, round %d of %d", o.Workers, round+1, o.Rounds)
		m, err := b.measure(func() (Result, error) { return Closed(ctx, o.Workers, b.window(), withCookie) })
		if err != nil {
			return err
		}
		accumulate(&rep.MeCookie, m)
		b.progress("12j: GET /api/me with a JWT, %d clients, round %d of %d", o.Workers, round+1, o.Rounds)
		if m, err = b.measure(func() (Result, error) { return Closed(ctx, o.Workers, b.window(), withJWT) }); err != nil {
			return err
		}
		accumulate(&rep.MeJWT, m)
	}
	return nil
}

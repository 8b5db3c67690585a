package mfa_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkFactors is what every right password now costs on top: one
// query for the account's factors (SQLite).
func BenchmarkFactors(b *testing.B) {
	e := newEnv(b)
	u, _ := e.enrolled(b, "bench")
	ctx := context.Background()
	for b.Loop() {
		if f, err := e.store.Factors(ctx, u.ID); err != nil || !f.TOTP {
			b.Fatal(f, err)
		}
	}
}

// BenchmarkVerifyTOTP checks one right code per iteration (a fresh time
// step each), with its atomic step update: the second step's own cost.
func BenchmarkVerifyTOTP(b *testing.B) {
	e := newEnv(b)
	u, key := e.enrolled(b, "bench")
	ctx := context.Background()
	for b.Loop() {
		e.clock.add(30 * time.Second)
		if err := e.store.VerifyTOTP(ctx, u.ID, e.code(b, key, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUseRecoveryCode spends one of ten codes per iteration (new
// codes every ten): the HMAC, the constant-time scan and the DELETE.
func BenchmarkUseRecoveryCode(b *testing.B) {
	e := newEnv(b)
	u := e.user(b, "bench")
	ctx := context.Background()
	var codes []string
	for b.Loop() {
		if len(codes) == 0 {
			b.StopTimer()
			var err error
			if codes, err = e.store.NewRecoveryCodes(ctx, u.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := e.store.UseRecoveryCode(ctx, u.ID, codes[0]); err != nil {
			b.Fatal(err)
		}
		codes = codes[1:]
	}
}

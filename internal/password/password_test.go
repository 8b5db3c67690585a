package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestValidate(t *testing.T) {
	for pw, want := range map[string]error{
		"":                            ErrTooShort,
		"seven77":                     ErrTooShort,
		"eight888":                    nil,
		"ééééééé":                     ErrTooShort, // 7 characters, 14 bytes
		"éééééééé":                    nil,
		"with spaces  ":               nil,
		"日本語のパスワード":                   nil,
		strings.Repeat("a", MaxBytes): nil,
		strings.Repeat("a", 73):       ErrTooLong,
		strings.Repeat("é", 37):       ErrTooLong, // 37 characters, 74 bytes
		"tab\there12":                 ErrInvalid,
		"nul\x00byte12":               ErrInvalid,
		"bad\xffutf8xx":               ErrInvalid,
	} {
		if got := Validate(pw); !errors.Is(got, want) {
			t.Errorf("Validate(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestNewHasherRefusesLowCost(t *testing.T) {
	if _, err := NewHasher(9, 1); err == nil {
		t.Fatal("cost 9 accepted")
	}
	if _, err := NewHasher(32, 1); err == nil {
		t.Fatal("cost 32 accepted")
	}
}

func TestHashAndVerify(t *testing.T) {
	h, err := NewHasher(MinCost, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != MinCost {
		t.Fatalf("cost %d, want %d", cost, MinCost)
	}
	if rehash, err := h.Verify(ctx, hash, "correct horse"); err != nil || rehash {
		t.Fatalf("Verify right password: rehash=%v err=%v", rehash, err)
	}
	if _, err := h.Verify(ctx, hash, "correct horsE"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify wrong password: %v", err)
	}
	if err := h.VerifyDummy(ctx, "correct horse"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("VerifyDummy: %v", err)
	}
	// A hash made at another cost still verifies, and asks to be redone.
	old, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), 11)
	if rehash, err := h.Verify(ctx, string(old), "correct horse"); err != nil || !rehash {
		t.Fatalf("Verify old-cost hash: rehash=%v err=%v", rehash, err)
	}
	if _, err := h.Hash(ctx, strings.Repeat("a", 73)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash of 73 bytes: %v", err)
	}
}

func TestVerifyRefusesBytesPast72(t *testing.T) {
	h, _ := NewHasher(MinCost, 0)
	prefix := strings.Repeat("x", MaxBytes)
	hash, err := h.Hash(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	// bcrypt reads only 72 bytes, so on its own it may accept this.
	if _, err := h.Verify(context.Background(), hash, prefix+"y"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("73-byte password matched its 72-byte prefix: %v", err)
	}
}

func TestHashingIsBounded(t *testing.T) {
	h, _ := NewHasher(MinCost, 1)
	t.Cleanup(h.Close)
	// Occupy the one worker until release is closed.
	release, busy := make(chan struct{}), make(chan struct{})
	go func() { _ = h.run(context.Background(), func() { close(busy); <-release }) }()
	<-busy
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Verify(ctx, string(h.dummy), "whatever1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with no free worker: %v, want the context's deadline", err)
	}
	close(release)
	if _, err := h.Verify(context.Background(), string(h.dummy), "whatever1"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify with a free worker: %v", err)
	}
	h.Close()
	if _, err := h.Verify(context.Background(), string(h.dummy), "whatever1"); err == nil || errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify after Close: %v, want an error", err)
	}
}

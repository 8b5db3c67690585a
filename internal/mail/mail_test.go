package mail

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/testenv"
)

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, dialect, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	return db
}

// echoComposer sends each job's payload {"to","n"} as a message.
type echoComposer struct{}

func (echoComposer) Compose(_ context.Context, kind string, payload []byte) (Message, error) {
	var p struct {
		To string `json:"to"`
		N  int    `json:"n"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return Message{}, err
	}
	if kind == "skip" {
		return Message{}, ErrSkip
	}
	return Message{
		To:      p.To,
		Subject: fmt.Sprintf("Message %d: ünïcode", p.N),
		Text:    fmt.Sprintf("Text of message %d: https://auth.example.com/reset?token=abc\n", p.N),
		HTML:    fmt.Sprintf("<p>HTML of message %d</p>", p.N),
	}, nil
}

func smtpSender(t *testing.T, srv *testenv.SMTPServer, mode, user, pass string) *SMTP {
	t.Helper()
	s, err := NewSMTP(SMTPConfig{
		Host: srv.Host, Port: srv.Port, TLS: mode, Username: user, Password: pass,
		Timeout: 10 * time.Second, From: "authd <no-reply@auth.example.com>",
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: srv.Host, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPWithTLS(t), testenv.SMTPWithAuth("authd", "s3cret"))
	s := smtpSender(t, srv, TLSStartTLS, "authd", "s3cret")
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":1}`))
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1, 30*time.Second)[0]
	if !got.TLS || !got.Authed {
		t.Fatalf("session TLS=%v authed=%v, want both", got.TLS, got.Authed)
	}
	if len(got.To) != 1 || got.To[0] != "alice@example.com" || got.From != "no-reply@auth.example.com" {
		t.Fatalf("envelope from %q to %q", got.From, got.To)
	}
	if got.Subject != m.Subject || got.Header.Get("To") != "<alice@example.com>" {
		t.Fatalf("subject %q, To %q", got.Subject, got.Header.Get("To"))
	}
	if got.Text != strings.ReplaceAll(m.Text, "\n", "\r\n") && got.Text != m.Text {
		t.Fatalf("text part %q, want %q", got.Text, m.Text)
	}
	if got.HTML != m.HTML {
		t.Fatalf("HTML part %q, want %q", got.HTML, m.HTML)
	}
	for _, h := range []string{"Date", "Message-Id", "Auto-Submitted"} {
		if got.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}

	// Wrong credentials are refused and nothing is delivered.
	bad := smtpSender(t, srv, TLSStartTLS, "authd", "wrong")
	if err := bad.Send(context.Background(), m); err == nil {
		t.Fatal("send with a wrong password succeeded")
	}
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("%d mails after a refused login, want 1", n)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPWithImplicitTLS(t), testenv.SMTPWithAuth("authd", "s3cret"))
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":1}`))
	if err := smtpSender(t, srv, TLSImplicit, "authd", "s3cret").Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1, 30*time.Second)[0]; !got.TLS || !got.Authed || got.To[0] != "alice@example.com" {
		t.Fatalf("TLS=%v authed=%v to %q", got.TLS, got.Authed, got.To)
	}
}

// The server's certificate is checked: one the sender does not trust gets
// nothing.
func TestSMTPRefusesUntrustedCertificate(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPWithTLS(t))
	s, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, Timeout: 10 * time.Second, From: "no-reply@auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":1}`))
	if err := s.Send(context.Background(), m); err == nil {
		t.Fatal("sent to a server whose certificate is not trusted")
	}
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("%d mails delivered", n)
	}
}

// STARTTLS is mandatory: a server that does not offer it gets nothing,
// rather than the mail in the clear.
func TestSMTPRefusesServerWithoutStartTLS(t *testing.T) {
	srv := testenv.StartSMTP(t) // no TLS
	s := smtpSender(t, srv, TLSStartTLS, "", "")
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":1}`))
	if err := s.Send(context.Background(), m); err == nil {
		t.Fatal("sent without STARTTLS")
	}
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("%d mails delivered in the clear", n)
	}
	// Explicitly allowed (a relay on the same host): delivered.
	if err := smtpSender(t, srv, TLSNone, "", "").Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 1, 30*time.Second)
}

// A server that accepts the connection and never answers cannot hold a
// send for ever: the timeout ends it.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, silent
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: TLSNone,
		Timeout: 300 * time.Millisecond, From: "no-reply@auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("send to a silent server succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("send to a silent server did not return within a minute (timeout 300ms)")
	}
}

func TestNewSMTPChecksConfig(t *testing.T) {
	for _, cfg := range []SMTPConfig{
		{Host: "", From: "a@example.com"},
		{Host: "mail.example.com", From: "not an address"},
		{Host: "mail.example.com", From: "a@example.com", TLS: "sometimes"},
	} {
		if _, err := NewSMTP(cfg); err == nil {
			t.Errorf("NewSMTP(%+v) accepted", cfg)
		}
	}
}

func TestDirSender(t *testing.T) {
	dir := t.TempDir()
	s := &DirSender{Dir: dir, From: "authd <no-reply@localhost>", Log: slog.New(slog.DiscardHandler)}
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":7}`))
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], ".eml") {
		t.Fatalf("files %q, want one .eml", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"To: <alice@example.com>", "multipart/alternative", "text/plain", "text/html"} {
		if !strings.Contains(string(b), want) {
			t.Errorf(".eml lacks %q:\n%s", want, b)
		}
	}
}

func TestLogSenderWritesTheLink(t *testing.T) {
	var buf syncBuffer
	s := &LogSender{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	m, _ := echoComposer{}.Compose(context.Background(), "x", []byte(`{"to":"alice@example.com","n":3}`))
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"no SMTP_HOST configured", "alice@example.com", "https://auth.example.com/reset?token=abc"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var errBoom = errors.New("boom")

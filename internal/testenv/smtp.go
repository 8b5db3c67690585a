package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on a free
// loopback port, keeping what it receives. It can require AUTH PLAIN and
// offer STARTTLS with a certificate of its own, be stopped and started
// again on the same port, and stall: hold every message until released.
type SMTPServer struct {
	Host string
	Port int
	// RootCAs trusts the server's certificate (set with SMTPWithTLS).
	RootCAs *x509.CertPool

	username, password string
	tlsConfig          *tls.Config
	implicitTLS        bool

	mu      sync.Mutex
	srv     *smtp.Server
	ln      net.Listener
	gen     int // counts starts; a message held across a Stop is lost
	mails   []ReceivedMail
	changed chan struct{} // closed and replaced whenever mails grows
	hold    chan struct{} // non-nil: DATA waits until it is closed
}

// ReceivedMail is one message as the server got it.
type ReceivedMail struct {
	From string
	To   []string
	// Raw is the message as sent; Header its parsed header.
	Raw    []byte
	Header mail.Header
	// Subject is decoded; Text and HTML are the decoded parts.
	Subject    string
	Text, HTML string
	// TLS says whether the session was encrypted.
	TLS bool
	// Authed says whether the session authenticated.
	Authed bool
}

// SMTPOption configures StartSMTP.
type SMTPOption func(*SMTPServer)

// SMTPWithAuth requires AUTH PLAIN with these credentials before MAIL.
func SMTPWithAuth(username, password string) SMTPOption {
	return func(s *SMTPServer) { s.username, s.password = username, password }
}

// SMTPWithTLS offers STARTTLS with a fresh self-signed certificate for
// 127.0.0.1 and localhost; RootCAs trusts it.
func SMTPWithTLS(t testing.TB) SMTPOption {
	return func(s *SMTPServer) {
		cert, pool := selfSigned(t)
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	}
}

// SMTPWithImplicitTLS speaks TLS from the first byte (as on port 465)
// instead of offering STARTTLS, with a fresh certificate as SMTPWithTLS.
func SMTPWithImplicitTLS(t testing.TB) SMTPOption {
	return func(s *SMTPServer) {
		SMTPWithTLS(t)(s)
		s.implicitTLS = true
	}
}

// StartSMTP starts a server; it stops when the test ends.
func StartSMTP(t testing.TB, opts ...SMTPOption) *SMTPServer {
	t.Helper()
	s := &SMTPServer{Host: "127.0.0.1", changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: smtp listen: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.serve(ln)
	t.Cleanup(func() {
		s.Release()
		s.Stop()
	})
	return s
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s *SMTPServer) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return &smtpSession{s: s, conn: c, gen: s.gen}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.TLSConfig = s.tlsConfig
	// Without TLS configured, plain AUTH is allowed (loopback only).
	srv.AllowInsecureAuth = s.tlsConfig == nil
	if s.implicitTLS {
		ln = tls.NewListener(ln, s.tlsConfig)
		srv.TLSConfig = nil // no STARTTLS on a connection that is TLS already
	}
	srv.ErrorLog = nopLogger{}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.gen++
	s.mu.Unlock()
	go srv.Serve(ln)
}

// Stop closes the listener and every connection: the server is gone, and
// connections to its port are refused.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.gen++
	s.mu.Unlock()
	if srv != nil {
		// The listener too: Close alone misses one that Serve has not
		// taken up yet.
		ln.Close()
		srv.Close()
	}
}

// Start listens again on the same port after Stop.
func (s *SMTPServer) Start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; the kernel may take an instant to
	// let go of it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.Addr()); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("testenv: smtp listen again on %s: %v", s.Addr(), err)
	}
	s.serve(ln)
}

// Stall makes the server hold every message at DATA until Release.
func (s *SMTPServer) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release lets held messages through.
func (s *SMTPServer) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Mails returns what has arrived so far.
func (s *SMTPServer) Mails() []ReceivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReceivedMail(nil), s.mails...)
}

// WaitFor waits until at least n mails have arrived and returns them all;
// it fails the test after timeout.
func (s *SMTPServer) WaitFor(t testing.TB, n int, timeout time.Duration) []ReceivedMail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		mails, changed := append([]ReceivedMail(nil), s.mails...), s.changed
		s.mu.Unlock()
		if len(mails) >= n {
			return mails
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("testenv: %d mail(s) arrived within %v, want %d", len(mails), timeout, n)
		}
	}
}

func (s *SMTPServer) add(m ReceivedMail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

type smtpSession struct {
	s      *SMTPServer
	conn   *smtp.Conn
	gen    int
	authed bool
	from   string
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.username || password != ss.s.password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	hold := ss.s.hold
	ss.s.mu.Unlock()
	if hold != nil {
		<-hold
		ss.s.mu.Lock()
		stopped := ss.s.gen != ss.gen
		ss.s.mu.Unlock()
		if stopped {
			// The client saw its connection close: it was not delivered.
			return errors.New("server stopped")
		}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := ReceivedMail{From: ss.from, To: ss.to, Raw: raw, TLS: isTLS, Authed: ss.authed}
	parseMail(&m)
	ss.s.add(m)
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

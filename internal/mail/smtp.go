package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of an SMTP connection.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses
	// to send if the server does not offer it (usually port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (usually port 465).
	TLSImplicit = "tls"
	// TLSNone sends in the clear: only for a relay on the same host.
	TLSNone = "none"
)

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	Host string
	Port int
	// TLS is TLSStartTLS, TLSImplicit or TLSNone.
	TLS string
	// Username and Password, when Username is set, authenticate with the
	// strongest mechanism both sides support (SCRAM, CRAM-MD5, then PLAIN
	// or LOGIN, which are refused without TLS).
	Username, Password string
	// Timeout bounds the connection and each SMTP command.
	Timeout time.Duration
	// From is the sender, e.g. "authd <no-reply@example.com>".
	From string
	// TLSConfig, when set, replaces the default (system roots, the Host as
	// server name): for a private CA.
	TLSConfig *tls.Config
}

// SMTP sends messages through a mail server, one connection per message.
type SMTP struct {
	client *gomail.Client
	from   string
}

// NewSMTP checks cfg and returns an SMTP sender; it does not connect yet.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: SMTP host is empty")
	}
	if _, err := netmail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case TLSStartTLS, "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail: unknown TLS mode %q (want %s, %s or %s)", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	return &SMTP{client: c, from: cfg.From}, nil
}

// Send delivers m. The error says whether the server refused it for now
// or for good, but the worker retries either way until the job is too old:
// a refusal for good is often a setting the operator is about to fix.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := build(s.from, m)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: smtp: %w", err)
	}
	return nil
}

// build makes the MIME message: multipart/alternative with a text and an
// HTML part, a Date and a Message-ID.
func build(from string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated") // RFC 3834: no auto-replies
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// WriteMessage writes m as an RFC 5322 message from from, as it would be
// sent: for the development senders.
func WriteMessage(w io.Writer, from string, m Message) error {
	msg, err := build(from, m)
	if err != nil {
		return err
	}
	_, err = msg.WriteTo(w)
	return err
}

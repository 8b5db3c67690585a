// Package notice decides what e-mail authd sends and composes it: address
// confirmations, password-reset links, and security notices (a sign-in from
// a new device, a password change or reset, an address change, a factor
// change).
//
// Handlers only enqueue a small job (one INSERT into the mail outbox, see
// package mail); the mail worker calls Compose when it sends, which reads
// the state at that moment: the confirmed address on file (the only one a
// reset link or notice ever goes to), and, for links, a fresh token whose
// hash alone is stored. A token therefore never rests in the outbox, and
// a request that enqueues costs the same whether or not a mail comes of it.
package notice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/user"
)

// Kinds of jobs, and the templates (web/templates/mail/KIND.txt and .html)
// that render them.
const (
	kindConfirm         = "confirm_email"
	kindInUse           = "email_in_use"
	kindReset           = "reset_password"
	kindNewDevice       = "new_device"
	kindPasswordChanged = "password_changed"
	kindPasswordReset   = "password_reset"
	kindEmailChanged    = "email_changed"
	kindFactorChanged   = "factor_changed"
)

// Default lifetimes of links (R1: within an hour).
const (
	DefaultResetTTL   = 30 * time.Minute
	DefaultConfirmTTL = time.Hour
)

// Config is what a Mailer needs.
type Config struct {
	Outbox *mail.Outbox
	Users  *user.Store
	Tokens *emailtoken.Store
	// PublicURL is the site's address as users reach it, e.g.
	// "https://auth.example.com": every link starts with it, never with a
	// request's Host header.
	PublicURL string
	// Notices that the operator may turn off.
	NewDevice      bool // a sign-in from a device not seen recently
	PasswordChange bool // a password change on the account page
	FactorChange   bool // a second factor added or removed
	// ResetTTL and ConfirmTTL are the lifetimes of links; zero means the
	// defaults.
	ResetTTL, ConfirmTTL time.Duration
}

// Mailer enqueues notices and composes them for the mail worker.
type Mailer struct {
	cfg  Config
	base *url.URL
	tmpl *templates
}

// New checks cfg and parses the mail templates.
func New(cfg Config) (*Mailer, error) {
	if cfg.Outbox == nil || cfg.Users == nil || cfg.Tokens == nil {
		return nil, errors.New("notice: outbox, users and tokens must be set")
	}
	base, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.ConfirmTTL <= 0 {
		cfg.ConfirmTTL = DefaultConfirmTTL
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Mailer{cfg: cfg, base: base, tmpl: tmpl}, nil
}

// ParsePublicURL checks a public URL: http or https, a host, no query or
// fragment. A trailing slash is dropped.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("notice: public URL %q must look like https://auth.example.com", s)
	}
	return u, nil
}

// Device is where an event came from, for the notice that reports it.
type Device struct {
	At     time.Time
	Client string // client address
	Agent  string // user-agent summary, e.g. "Firefox on Linux"
}

// job is the payload of every kind.
type job struct {
	UserID     int64     `json:"user_id"`
	Address    string    `json:"address,omitempty"`     // confirm: the address; email_changed: the old one
	NewAddress string    `json:"new_address,omitempty"` // email_changed
	What       string    `json:"what,omitempty"`        // factor_changed
	At         time.Time `json:"at"`
	Client     string    `json:"client,omitempty"`
	Agent      string    `json:"agent,omitempty"`
}

func (m *Mailer) enqueue(ctx context.Context, kind string, j job) error {
	if j.At.IsZero() {
		j.At = time.Now()
	}
	return m.cfg.Outbox.Enqueue(ctx, kind, j)
}

func withDevice(j job, d Device) job {
	j.At, j.Client, j.Agent = d.At, d.Client, d.Agent
	return j
}

// ConfirmAddress sends a confirmation link to a user's new pending address.
func (m *Mailer) ConfirmAddress(ctx context.Context, userID int64, address string) error {
	return m.enqueue(ctx, kindConfirm, job{UserID: userID, Address: address})
}

// ResetPassword sends a reset link to the confirmed address of userID.
// userID 0 (nobody matched, or the request was throttled) enqueues a job
// that sends nothing: the request does the same work either way.
func (m *Mailer) ResetPassword(ctx context.Context, userID int64) error {
	return m.enqueue(ctx, kindReset, job{UserID: userID})
}

// NotifiesNewDevice reports whether NewDevice sends anything, so that the
// caller can skip the work of deciding whether a device is new.
func (m *Mailer) NotifiesNewDevice() bool { return m.cfg.NewDevice }

// NewDevice tells the user of a sign-in from a device not seen recently.
func (m *Mailer) NewDevice(ctx context.Context, userID int64, d Device) error {
	if !m.cfg.NewDevice {
		return nil
	}
	return m.enqueue(ctx, kindNewDevice, withDevice(job{UserID: userID}, d))
}

// PasswordChanged tells the user that their password was changed.
func (m *Mailer) PasswordChanged(ctx context.Context, userID int64, d Device) error {
	if !m.cfg.PasswordChange {
		return nil
	}
	return m.enqueue(ctx, kindPasswordChanged, withDevice(job{UserID: userID}, d))
}

// PasswordReset tells the user that their password was reset. It is always
// sent (R3): a reset is done by whoever reads the mailbox.
func (m *Mailer) PasswordReset(ctx context.Context, userID int64, d Device) error {
	return m.enqueue(ctx, kindPasswordReset, withDevice(job{UserID: userID}, d))
}

// AddressChanged tells the old address that the account's address changed
// to newAddress ("" when it was removed). It is always sent: it is the
// owner's only warning if someone else made the change.
func (m *Mailer) AddressChanged(ctx context.Context, userID int64, old, newAddress string, d Device) error {
	if old == "" {
		return nil
	}
	return m.enqueue(ctx, kindEmailChanged, withDevice(job{UserID: userID, Address: old, NewAddress: newAddress}, d))
}

// FactorChanged tells the user that a second factor was added or removed;
// what says which, as a sentence start ("An authenticator app was added").
// It is the seam for the second-factor work: nothing calls it yet.
func (m *Mailer) FactorChanged(ctx context.Context, userID int64, what string, d Device) error {
	if !m.cfg.FactorChange {
		return nil
	}
	return m.enqueue(ctx, kindFactorChanged, withDevice(job{UserID: userID, What: what}, d))
}

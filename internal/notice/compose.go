package notice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"text/template"
	"time"

	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/user"
	"github.com/sessionauth/authd/web"
)

var _ mail.Composer = (*Mailer)(nil)

// Compose turns a job into the message to send now, or mail.ErrSkip when
// nothing is to be sent: the account is gone or has no confirmed address,
// the address to confirm is no longer the pending one, or the job stands
// for a reset request that matched nobody. Other errors are the database
// failing: the worker tries again later.
func (m *Mailer) Compose(ctx context.Context, kind string, payload []byte) (mail.Message, error) {
	var j job
	if err := json.Unmarshal(payload, &j); err != nil {
		return mail.Message{}, fmt.Errorf("%w: malformed %s job: %v", mail.ErrSkip, kind, err)
	}
	if j.UserID == 0 {
		return mail.Message{}, mail.ErrSkip
	}
	u, err := m.cfg.Users.ByID(ctx, j.UserID)
	if errors.Is(err, user.ErrNotFound) {
		return mail.Message{}, mail.ErrSkip
	}
	if err != nil {
		return mail.Message{}, err
	}
	d := m.data(u, j)
	to := u.Email
	switch kind {
	case kindConfirm:
		if u.EmailPending != j.Address {
			return mail.Message{}, mail.ErrSkip // superseded or removed since
		}
		to = j.Address
		owner, err := m.cfg.Users.EmailOwner(ctx, j.Address)
		switch {
		case err == nil && owner != u.ID:
			// Sign-up and the account page never say that an address is
			// taken; its owner learns of the attempt here instead.
			kind = kindInUse
		case err != nil && !errors.Is(err, user.ErrNotFound):
			return mail.Message{}, err
		default:
			token, err := m.cfg.Tokens.Issue(ctx, emailtoken.Token{Purpose: emailtoken.Verify, UserID: u.ID, Address: j.Address, Epoch: u.Epoch}, m.cfg.ConfirmTTL)
			if err != nil {
				return mail.Message{}, err
			}
			d.Link, d.ValidFor = m.link("/email/verify", token), words(m.cfg.ConfirmTTL)
		}
	case kindReset:
		if to == "" {
			return mail.Message{}, mail.ErrSkip
		}
		token, err := m.cfg.Tokens.Issue(ctx, emailtoken.Token{Purpose: emailtoken.Reset, UserID: u.ID, Address: to, Epoch: u.Epoch}, m.cfg.ResetTTL)
		if err != nil {
			return mail.Message{}, err
		}
		d.Link, d.ValidFor = m.link("/reset", token), words(m.cfg.ResetTTL)
	case kindEmailChanged:
		to = j.Address // the old address, no longer on file
	case kindNewDevice, kindPasswordChanged, kindPasswordReset, kindFactorChanged:
	default:
		return mail.Message{}, fmt.Errorf("%w: unknown kind %q", mail.ErrSkip, kind)
	}
	if to == "" {
		return mail.Message{}, mail.ErrSkip
	}
	msg, err := m.tmpl.render(kind, d)
	if err != nil {
		return mail.Message{}, err
	}
	msg.To = to
	return msg, nil
}

// data is what every mail template sees.
type data struct {
	Name        string
	Address     string
	NewAddress  string
	What        string
	At          string
	Client      string
	Device      string
	Link        string
	ValidFor    string
	SiteURL     string
	ForgotURL   string
	SessionsURL string
}

func (m *Mailer) data(u user.User, j job) data {
	d := data{
		Name: u.Name, Address: j.Address, NewAddress: j.NewAddress, What: j.What,
		At: j.At.UTC().Format("2006-01-02 15:04 UTC"), Client: j.Client, Device: j.Agent,
		SiteURL: m.base.String(), ForgotURL: m.link("/forgot", ""), SessionsURL: m.link("/account/sessions", ""),
	}
	if d.Client == "" {
		d.Client = "unknown"
	}
	if d.Device == "" {
		d.Device = "unknown"
	}
	return d
}

// link is an absolute URL on the public site, with the token as its query.
func (m *Mailer) link(path, token string) string {
	u := *m.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if token != "" {
		u.RawQuery = "token=" + token
	}
	return u.String()
}

// words says a lifetime for people: "30 minutes", "1 hour".
func words(d time.Duration) string {
	if d%time.Hour == 0 {
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", int(d.Round(time.Minute)/time.Minute))
}

// templates holds each mail's text and HTML template.
type templates struct {
	text map[string]*template.Template
	html map[string]*htmltemplate.Template
}

func parseTemplates() (*templates, error) {
	files, err := fs.Glob(web.Files, "templates/mail/*.txt")
	if err != nil {
		return nil, err
	}
	t := &templates{text: map[string]*template.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/mail/"), ".txt")
		tt, err := template.New(name+".txt").Option("missingkey=error").ParseFS(web.Files, f)
		if err != nil {
			return nil, fmt.Errorf("notice: parse %s: %w", f, err)
		}
		ht, err := htmltemplate.New("").ParseFS(web.Files, "templates/mail/base.html", "templates/mail/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("notice: parse %s.html: %w", name, err)
		}
		t.text[name], t.html[name] = tt, ht
	}
	return t, nil
}

func (t *templates) render(name string, d data) (mail.Message, error) {
	tt, ht := t.text[name], t.html[name]
	if tt == nil || ht == nil {
		return mail.Message{}, fmt.Errorf("notice: no template for %q", name)
	}
	var subj, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subj, "subject", d); err != nil {
		return mail.Message{}, fmt.Errorf("notice: render %s subject: %w", name, err)
	}
	if err := tt.Execute(&text, d); err != nil {
		return mail.Message{}, fmt.Errorf("notice: render %s text: %w", name, err)
	}
	if err := ht.ExecuteTemplate(&html, "layout", d); err != nil {
		return mail.Message{}, fmt.Errorf("notice: render %s html: %w", name, err)
	}
	return mail.Message{Subject: strings.TrimSpace(subj.String()), Text: text.String(), HTML: html.String()}, nil
}

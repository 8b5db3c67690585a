package cli

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/pwnlist"
	"github.com/sessionauth/authd/internal/user"
)

// mailing is the e-mail side of a server: what handlers enqueue with, and
// the worker that sends.
type mailing struct {
	mailer    *notice.Mailer
	tokens    *emailtoken.Store
	passwords *pwnlist.Checker
	worker    *mail.Worker
}

// newMailing builds the outbox, the notices, the sender the settings ask
// for (SMTP, or the log or a folder in development) and its worker.
func newMailing(cfg config.Config, db *sql.DB, users *user.Store, log *slog.Logger) (*mailing, error) {
	outbox := mail.NewOutbox(db, cfg.MailQueueMax, nil)
	tokens := emailtoken.NewStore(db, nil)
	mailer, err := notice.New(notice.Config{
		Outbox: outbox, Users: users, Tokens: tokens, PublicURL: cfg.PublicBase(),
		NewDevice: cfg.NotifyNewDevice, PasswordChange: cfg.NotifyPasswordChange, FactorChange: cfg.NotifyFactorChange,
	})
	if err != nil {
		return nil, err
	}
	var sender mail.Sender
	switch {
	case cfg.SMTPHost != "":
		sender, err = mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, TLS: cfg.SMTPTLS,
			Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			Timeout: cfg.SMTPTimeout, From: cfg.MailFrom,
		})
		if err != nil {
			return nil, err
		}
		log.Info("mail: sending through SMTP", "host", cfg.SMTPHost, "port", cfg.SMTPPort, "tls", cfg.SMTPTLS, "auth", cfg.SMTPUsername != "")
	case cfg.MailDir != "":
		if st, err := os.Stat(cfg.MailDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("MAIL_DIR %q is not a folder", cfg.MailDir)
		}
		sender = &mail.DirSender{Dir: cfg.MailDir, From: cfg.MailFrom, Log: log}
		log.Warn("mail: no SMTP_HOST; mails are written as .eml files, not sent", "dir", cfg.MailDir)
	default:
		sender = &mail.LogSender{Log: log}
		log.Warn("mail: no SMTP_HOST; mails are written to this log, not sent (set SMTP_HOST and PUBLIC_URL in production)")
	}
	return &mailing{
		mailer: mailer, tokens: tokens,
		passwords: pwnlist.New(pwnlist.Options{RangeURL: cfg.PwnedPasswordsURL, Client: &http.Client{Timeout: 2 * time.Second}, Log: log}),
		worker: &mail.Worker{
			Outbox: outbox, Sender: sender, Composer: mailer, Log: log, MaxAge: cfg.MailMaxAge,
			// One attempt may take a connection and every command of it.
			Lease: 6*cfg.SMTPTimeout + 30*time.Second,
		},
	}, nil
}

// run sends mail until ctx ends; the returned channel closes when the
// worker has stopped.
func (m *mailing) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.worker.Run(ctx)
	}()
	return done
}

package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// LogSender writes each message to the log instead of sending it: the
// development default (no SMTP configured), so that a developer can follow
// a reset or confirmation link straight from the server's output. The text
// part holds the link; production must configure SMTP, since the log then
// carries live links.
type LogSender struct {
	Log *slog.Logger
}

// Send logs m at warning level, loud enough not to be mistaken for delivery.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	s.Log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: no SMTP_HOST configured; here it is instead",
		slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}

// DirSender writes each message as a complete .eml file (what would have
// been sent, MIME parts and all) into a folder, for development and for
// mail clients that open such files.
type DirSender struct {
	Dir  string
	From string
	Log  *slog.Logger
}

// Send writes m to a new file in s.Dir, atomically: a reader never sees a
// half-written message.
func (s *DirSender) Send(ctx context.Context, m Message) error {
	var b bytes.Buffer
	if err := WriteMessage(&b, s.From, m); err != nil {
		return err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("mail: random: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(suffix) + ".eml"
	tmp, err := os.CreateTemp(s.Dir, ".mail-*")
	if err != nil {
		return fmt.Errorf("mail: outbox folder: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("mail: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: write %s: %w", tmp.Name(), err)
	}
	path := filepath.Join(s.Dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("mail: write %s: %w", path, err)
	}
	if s.Log != nil {
		s.Log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: no SMTP_HOST configured; written to a file instead",
			slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("file", path))
	}
	return nil
}

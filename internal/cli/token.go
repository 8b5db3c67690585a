package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/token"
)

// newIssuer returns the access-token issuer: keys in the database, sealed
// under the master key, the first one created now if there is none.
func newIssuer(ctx context.Context, cfg config.Config, db *sql.DB, keys *secret.Keys) (*token.Issuer, error) {
	store, err := token.NewKeyStore(db, keys)
	if err != nil {
		return nil, err
	}
	return token.New(ctx, store, token.Config{
		Issuer: cfg.PublicBase(), Lifetime: cfg.AccessTokenLifetime, RotateEvery: cfg.SigningKeyRotation,
	})
}

// tokenCommand runs "token keys list", "token keys rotate" and
// "token client-secret ID".
func tokenCommand(ctx context.Context, env Env, args []string) error {
	switch {
	case len(args) >= 2 && args[0] == "keys" && (args[1] == "list" || args[1] == "rotate"):
		return tokenKeys(ctx, env, args[1], args[2:])
	case len(args) == 2 && args[0] == "client-secret":
		return clientSecret(env.Stdout, args[1])
	}
	fmt.Fprint(env.Stderr, usage)
	return errUsage
}

func tokenKeys(ctx context.Context, env Env, sub string, args []string) error {
	cfg, err := loadConfig(env, "token keys "+sub, args)
	if err != nil {
		return err
	}
	db, _, _, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := masterKey(ctx, cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	store, err := token.NewKeyStore(db, keys)
	if err != nil {
		return err
	}
	if sub == "rotate" {
		k, err := store.Rotate(ctx, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "new signing key %s; every instance signs with it within a minute, and the previous key stays in the JWKS until its tokens have expired\n", k.ID)
		return nil
	}
	list, err := store.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED")
	for _, k := range list {
		retired := "-"
		if !k.RetiredAt.IsZero() {
			retired = k.RetiredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\tES256\t%s\t%s\n", k.ID, k.CreatedAt.UTC().Format(time.RFC3339), retired)
	}
	return tw.Flush()
}

// clientSecret prints a new secret for a resource server and the
// RESOURCE_SERVERS entry (its hash) that lets it call introspection.
func clientSecret(w io.Writer, id string) error {
	if _, err := config.ParseResourceServer(id + ":" + hex.EncodeToString(make([]byte, 32))); err != nil {
		return fmt.Errorf("client id %q: at most 64 characters, no colon", id)
	}
	b := make([]byte, 32)
	rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(s))
	fmt.Fprintf(w, "client_id:     %s\nclient_secret: %s\nRESOURCE_SERVERS entry: %s:%s\n", id, s, id, hex.EncodeToString(sum[:]))
	return nil
}

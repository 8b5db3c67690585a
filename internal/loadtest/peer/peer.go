// Package peer is the stack a Go developer would assemble from authd's own
// libraries without authd: chi, scs.LoadAndSave and scs/redisstore over a
// redigo pool, bcrypt, IdleTimeout 30m and Lifetime 12h, serving the same
// protected JSON page as authd's GET /api/me. authbench runs it (as the
// binary cmd/authbench/peer) against the same private Redis as authd and
// measures both in one run; it mints the peer's sessions in-process with
// Manager, as it does authd's with internal/session.
//
// It is deliberately the stock stack, written as its documentation shows:
// no tuning that a developer following the scs README would not do.
package peer

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/chi/v5"
	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"
)

// The session settings of authd's defaults, which the peer copies.
const (
	IdleTimeout = 30 * time.Minute
	Lifetime    = 12 * time.Hour
)

// Keys of the values the peer keeps in a session.
const (
	keyUserID   = "user_id"
	keyName     = "name"
	keySignedIn = "signed_in_at"
)

// Manager returns the peer's scs session manager over pool.
func Manager(pool *redis.Pool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = redisstore.New(pool)
	sm.IdleTimeout = IdleTimeout
	sm.Lifetime = Lifetime
	sm.Cookie.Name = "session_id"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	return sm
}

// Mint signs user id in with sm and returns the new session's token, as the
// peer's POST /login would after its bcrypt comparison.
func Mint(ctx context.Context, sm *scs.SessionManager, id int64, name string) (string, error) {
	ctx, err := sm.Load(ctx, "")
	if err != nil {
		return "", err
	}
	sm.Put(ctx, keyUserID, id)
	sm.Put(ctx, keyName, name)
	sm.Put(ctx, keySignedIn, time.Now().Unix())
	tok, _, err := sm.Commit(ctx)
	return tok, err
}

// User is the account the peer's sign-in accepts.
type User struct {
	ID   int64
	Name string
	Hash []byte // bcrypt
}

type meJSON struct {
	User struct {
		ID         int64     `json:"id"`
		Name       string    `json:"name"`
		SignedInAt time.Time `json:"signed_in_at"`
		ExpiresAt  time.Time `json:"expires_at"`
	} `json:"user"`
}

// Handler is the peer's router: GET /healthz, POST /login (bcrypt), GET
// /api/me (401 without a session), POST /logout.
func Handler(sm *scs.SessionManager, u User) http.Handler {
	r := chi.NewRouter()
	r.Use(sm.LoadAndSave)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("username") != u.Name ||
			bcrypt.CompareHashAndPassword(u.Hash, []byte(r.PostFormValue("password"))) != nil {
			http.Error(w, "wrong user name or password", http.StatusUnauthorized)
			return
		}
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		sm.Put(r.Context(), keyUserID, u.ID)
		sm.Put(r.Context(), keyName, u.Name)
		sm.Put(r.Context(), keySignedIn, time.Now().Unix())
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	r.Get("/api/me", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := sm.GetInt64(ctx, keyUserID)
		if id == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"sign in first"}` + "\n"))
			return
		}
		var me meJSON
		me.User.ID = id
		me.User.Name = sm.GetString(ctx, keyName)
		me.User.SignedInAt = time.Unix(sm.GetInt64(ctx, keySignedIn), 0).UTC()
		me.User.ExpiresAt = sm.Deadline(ctx).UTC().Truncate(time.Second)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(me) // a write error is the client's going away
	})
	return r
}

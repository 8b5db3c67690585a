// Package e2e tests authd from the outside, as it is deployed: the real
// binary (built once by TestMain) or the whole program run in-process, real
// redis-server processes, a real PostgreSQL database and a real nginx in
// front. Nothing is mocked.
//
// The tests cover what unit tests cannot see:
//
//   - scale-out: two instances behind nginx (round robin) share sign-ins
//     through one Redis and one PostgreSQL, and a sign-out on one instance
//     is final on the other (TestScaleOutBehindNginx);
//   - a Redis outage under steady load: protected pages answer 503, public
//     ones keep working, no goroutines pile up, and service resumes within
//     two seconds of Redis returning (TestRedisOutageUnderLoad);
//   - a graceful restart: SIGTERM under load lets in-flight requests finish,
//     the process exits 0, and sessions survive into the next process
//     because they live in Redis (TestGracefulRestart).
//
// They need redis-server and nginx installed (they fail, naming the apt-get
// command, when either is missing) and TEST_POSTGRES_URL for the scale-out
// test, which is skipped without it. .ci/run provides all three. The package
// holds only tests.
package e2e

package cli

import "crypto/tls"

// tlsConfig is what authd offers when it serves TLS itself: TLS 1.2 and
// 1.3 only, and in TLS 1.2 only ECDHE key exchange with AEAD ciphers
// (AES-GCM, ChaCha20-Poly1305), the "modern" and "intermediate" choices of
// Mozilla's guidelines. Go's defaults would also offer the CBC suites
// ECDHE-ECDSA-AES128-SHA and ECDHE-ECDSA-AES256-SHA (testssl: "cipherlist
// AVERAGE"). TLS 1.3 suites are all AEAD and not configurable in Go.
func tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

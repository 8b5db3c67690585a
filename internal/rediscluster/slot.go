// Package rediscluster is authd's Redis Cluster client on redigo
// (docs/cluster.md): the key-to-slot function of the Redis Cluster
// specification and a small slot router (router.go, conn.go) that
// redispool.Open hands to the session store, the throttle and the WebAuthn
// challenges when a cluster is configured.
package rediscluster

import "strings"

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Slot returns the hash slot of key: CRC16 (XMODEM) of the key, or of the
// part between the first "{" and the next "}" when that part is not empty,
// modulo Slots.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % Slots)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), as Redis
// Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

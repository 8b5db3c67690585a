//go:build !linux

package password

// lowerThreadPriority does nothing where threads have no priority of their
// own; hashing is then bounded by the number of workers alone.
func lowerThreadPriority() {}

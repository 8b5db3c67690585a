package password

import "syscall"

// lowerThreadPriority gives the calling OS thread the lowest nice value
// (19). On Linux the nice value belongs to the thread, not the process, and
// raising it needs no privilege. SCHED_IDLE would yield even more readily,
// but a thread that gets almost no CPU while it holds a Go P could delay
// the garbage collector's stop-the-world, and with it every request, when
// other processes keep the machine busy; nice 19 still gets a small share.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}

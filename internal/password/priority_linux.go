package password

import (
	"syscall"
	"unsafe"
)

// schedIdle is Linux's SCHED_IDLE policy: the thread runs only when no
// ordinary thread wants the CPU, and an ordinary thread that wakes up
// preempts it at once.
const schedIdle = 5

// lowerThreadPriority gives the calling OS thread the lowest CPU priority
// Linux has: SCHED_IDLE, or failing that nice 19. Both belong to the thread,
// not the process, and lowering them needs no privilege.
func lowerThreadPriority() {
	tid := syscall.Gettid()
	var param struct{ priority int32 }
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedIdle, uintptr(unsafe.Pointer(&param))); errno == 0 {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
}

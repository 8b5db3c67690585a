package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 1/100 s on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ParseProcStat returns the user plus system CPU time in the text of a
// /proc/PID/stat file. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseProcStat(text string) (time.Duration, error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no ')' in %q", text)
	}
	// After ")": state(3) ppid(4) … utime(14) stime(15), so utime is the
	// 12th field after the name and stime the 13th.
	f := strings.Fields(text[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %q is not a tick count", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// cpuTime returns the CPU time pid has used so far (all its threads).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseProcStat(string(b))
}

// ParseMachineStat returns, from the text of /proc/stat, the CPU time all
// CPUs together spent busy (user, nice, system, irq, softirq) and the time
// the hypervisor gave to other guests (steal).
func ParseMachineStat(text string) (busy, steal time.Duration, err error) {
	line, _, _ := strings.Cut(text, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var t [8]int64 // user nice system idle iowait irq softirq steal
	for i := range t {
		if t[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q is not a tick count", f[i+1])
		}
	}
	busy = time.Duration(t[0]+t[1]+t[2]+t[5]+t[6]) * clockTick
	return busy, time.Duration(t[7]) * clockTick, nil
}

// CPUModel returns the "model name" of the first processor in a
// /proc/cpuinfo text, or "unknown".
func CPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Procs are the processes whose CPU use is accounted per scenario.
type Procs struct {
	Authd, Redis, Self int
	// Nginx is the nginx master of scenario 7 (0 until it runs); its
	// workers are counted with it.
	Nginx int
}

// CPU is CPU time used by each process over a window, and by the whole
// machine: Machine is every CPU's busy time, whoever used it.
type CPU struct {
	Authd, Redis, Self time.Duration
	Nginx              time.Duration
	Machine, Steal     time.Duration
}

// Others is the CPU time processes other than ours used: anything well
// above zero means the figures were measured on a busy machine.
func (c CPU) Others() time.Duration { return max(0, c.Machine-c.Sum()) }

// Sum is the CPU time of authd, redis-server, authbench and nginx.
func (c CPU) Sum() time.Duration { return c.Authd + c.Redis + c.Self + c.Nginx }

func (p Procs) snapshot() (CPU, error) {
	var c CPU
	var err error
	if c.Authd, err = cpuTime(p.Authd); err != nil {
		return c, fmt.Errorf("cpu time of authd: %w", err)
	}
	if c.Redis, err = cpuTime(p.Redis); err != nil {
		return c, fmt.Errorf("cpu time of redis-server: %w", err)
	}
	if c.Self, err = cpuTime(p.Self); err != nil {
		return c, fmt.Errorf("cpu time of authbench: %w", err)
	}
	if p.Nginx != 0 {
		for _, pid := range append([]int{p.Nginx}, children(p.Nginx)...) {
			t, err := cpuTime(pid)
			if err != nil {
				return c, fmt.Errorf("cpu time of nginx: %w", err)
			}
			c.Nginx += t
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, err
	}
	c.Machine, c.Steal, err = ParseMachineStat(string(b))
	return c, err
}

func (c CPU) add(o CPU) CPU {
	return CPU{
		Authd: c.Authd + o.Authd, Redis: c.Redis + o.Redis, Self: c.Self + o.Self, Nginx: c.Nginx + o.Nginx,
		Machine: c.Machine + o.Machine, Steal: c.Steal + o.Steal,
	}
}

func (c CPU) sub(before CPU) CPU {
	return CPU{
		Authd: c.Authd - before.Authd, Redis: c.Redis - before.Redis, Self: c.Self - before.Self, Nginx: c.Nginx - before.Nginx,
		Machine: c.Machine - before.Machine, Steal: c.Steal - before.Steal,
	}
}

package benchsets

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// CPUTimer measures the CPU time of the calling goroutine's thread,
// which on a machine shared with other work is a steadier measure than
// the wall clock go test reports: time spent waiting for a core is not
// counted (cache and memory bandwidth shared with others still are).
type CPUTimer struct{ start time.Duration }

// ThreadCPU is the calling thread's CPU time: CLOCK_THREAD_CPUTIME_ID,
// which the kernel brings up to date when read. getrusage(RUSAGE_THREAD),
// used before, gives the time as of the thread's last tick or context
// switch (and never less than it gave before), so a run of a few
// milliseconds could read 0 (engine's fw1_8k_zipf/linear at 200x did).
// Without CONFIG_IRQ_TIME_ACCOUNTING (this machine's kernel) it includes
// the softirq work the kernel does in the thread's context.
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// StartCPU locks the goroutine to its thread (until Report) and starts
// the timer.
func StartCPU() *CPUTimer {
	runtime.LockOSThread()
	return &CPUTimer{start: ThreadCPU()}
}

// Report adds the CPU time per iteration as the metric cpu-ns/op.
func (t *CPUTimer) Report(b *testing.B) {
	d := ThreadCPU() - t.start
	runtime.UnlockOSThread()
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

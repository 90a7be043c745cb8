package benchsets

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// CPUTimer measures the CPU time of the calling goroutine's thread,
// which on a machine shared with other work is a steadier measure than
// the wall clock go test reports: time spent waiting for a core is not
// counted (cache and memory bandwidth shared with others still are).
type CPUTimer struct{ start time.Duration }

// rusageThread is RUSAGE_THREAD (Linux).
const rusageThread = 1

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StartCPU locks the goroutine to its thread (until Report) and starts
// the timer.
func StartCPU() *CPUTimer {
	runtime.LockOSThread()
	return &CPUTimer{start: threadCPU()}
}

// Report adds the CPU time per iteration as the metric cpu-ns/op.
func (t *CPUTimer) Report(b *testing.B) {
	d := threadCPU() - t.start
	runtime.UnlockOSThread()
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

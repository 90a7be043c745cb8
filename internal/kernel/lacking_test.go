package kernel

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that records how a test was ended instead of
// ending it.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...) }

// TestLacking checks that a missing prerequisite skips a test on a
// developer's machine and fails it under CI=true (.ci/run sets it), so
// that CI cannot pass having skipped the kernel and datapath tests.
func TestLacking(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Lacking(r, "needs %s", "root")
	if r.skipped != "needs root" || r.failed != "" {
		t.Errorf("without CI: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	Lacking(r, "needs %s", "root")
	if r.failed == "" || r.skipped != "" {
		t.Errorf("under CI=true: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}

// Package testsummary collects the one-line summaries that long test
// runs (kernel differential testing, the conformance vectors) print, in
// the file that IPSIFT_KERNEL_DIFF_SUMMARY names: go test hides the
// output of passing tests, and test.sh shows the file after the run
// instead of running those tests a second time with -v to see it.
package testsummary

import "os"

// Append adds line (ending in a newline) to the summary file. Several
// test binaries write to it at once, so each appends its own line.
// Without the variable it does nothing.
func Append(line string) error {
	path := os.Getenv("IPSIFT_KERNEL_DIFF_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package testsummary

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary")
	t.Setenv("IPSIFT_KERNEL_DIFF_SUMMARY", path)
	for _, l := range []string{"a: 1\n", "b: 2\n"} {
		if err := Append(l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "a: 1\nb: 2\n" {
		t.Fatalf("summary file holds %q (%v), want both lines in order", got, err)
	}
	t.Setenv("IPSIFT_KERNEL_DIFF_SUMMARY", "")
	if err := Append("c: 3\n"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a: 1\nb: 2\n" {
		t.Fatalf("without the variable Append wrote: %q", got)
	}
}

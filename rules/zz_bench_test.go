package rules

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkZZRestore(b *testing.B) {
	f := os.Getenv("ZZ_FILE")
	if f == "" {
		b.Skip()
	}
	data, _ := os.ReadFile(f)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rs := New()
		if _, err := rs.Restore(bytes.NewReader(data), RestoreOptions{File: f}); err != nil {
			b.Fatal(err)
		}
	}
}

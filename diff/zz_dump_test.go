package diff

import (
	"os"
	"strconv"
	"testing"
)

func TestZZDump(t *testing.T) {
	i, _ := strconv.Atoi(os.Getenv("ZZ_PAIR"))
	p := genHarnessPair(11, i)
	os.WriteFile("/tmp/zzold.rules", []byte(p.old), 0o644)
	os.WriteFile("/tmp/zznew.rules", []byte(p.new), 0o644)
	t.Log(p.mutation, p.six)
}

package corpus

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
)

// result is what one file gave on one backend.
type result struct {
	whole  bool   // the kernel took every command (script) or the whole file (restore)
	failed string // otherwise, the commands it refused and why
	diff   string // kernel save vs ipsift save, "" when equal
}

// TestCorpus loads every corpus file into the kernel, in a fresh
// namespace per file and backend (restore files with iptables-restore,
// scripts run by bash with only the iptables tools and stubs on PATH,
// see kernel.RunScript), and compares the kernel's iptables-save with
// `ipsift save` of the same file, table by table with the normalisation
// of every kernel save comparison (kerneldiff.SaveDifference). It also
// runs `ipsift check` on each file.
//
// The rule: on every backend where the kernel loads a file whole, ipsift
// save must print what the kernel holds, and ipsift check must report no
// error on a file the kernel loads whole on any backend (each error is
// a false error). A file the kernel does not load whole is still
// compared and the difference logged (a failing command fails alone, so
// the kernel holds the rest), but it fails nothing: it is not a file the
// kernel takes. The summary line counts files: N in the corpus, M
// loaded whole on both backends and equal on both, E false errors; it
// passes only with M equal to the number loaded whole and E = 0.
func TestCorpus(t *testing.T) {
	kernel.Require(t)
	es, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildIpsift(t)
	type fileResult struct {
		byBackend map[kernel.Backend]result
		errors    int
	}
	var mu sync.Mutex
	results := map[string]*fileResult{}
	t.Run("files", func(t *testing.T) {
		for _, e := range es {
			t.Run(e.File, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join("testdata", e.File)
				ours, saveErr := runIpsift(bin, "save", path)
				check, _ := runIpsift(bin, "check", path)
				fr := &fileResult{byBackend: map[kernel.Backend]result{}}
				for _, b := range kernel.Backends {
					fw := kernel.NewFirewall(t, b)
					var r result
					if e.Kind == KindRestore {
						data, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						err = fw.Restore(string(data))
						r.whole = err == nil
						if err != nil {
							r.failed = err.Error()
						}
					} else {
						r.whole, r.failed = runScript(t, fw, e)
					}
					theirs, err := fw.Save()
					if err != nil {
						t.Fatalf("%s: iptables-save: %v", b, err)
					}
					r.diff = kerneldiff.SaveDifference(b, withoutEmptyLegacyTables(b, theirs, ours), ours)
					fr.byBackend[b] = r
					switch {
					case r.whole && r.diff != "":
						t.Errorf("%s: the kernel loads the file whole; ipsift save (%v) differs:\n%s", b, saveErr, r.diff)
					case !r.whole && r.diff != "":
						t.Logf("%s: the kernel refused part of the file (%s); ipsift save (%v) differs from what it holds:\n%s", b, firstLines(r.failed, 4), saveErr, r.diff)
					case !r.whole:
						t.Logf("%s: the kernel refused part of the file (%s); ipsift save prints what it holds", b, firstLines(r.failed, 4))
					}
				}
				if fr.byBackend[kernel.NFT].whole || fr.byBackend[kernel.Legacy].whole {
					for _, l := range strings.Split(check, "\n") {
						if strings.Contains(l, ": error: ") {
							fr.errors++
							t.Errorf("false error (the kernel loads the file): %s", l)
						}
					}
				}
				mu.Lock()
				results[e.File] = fr
				mu.Unlock()
			})
		}
	})
	n, loaded, equal, falseErrs := len(es), 0, 0, 0
	for _, fr := range results {
		falseErrs += fr.errors
		whole, same := true, true
		for _, b := range kernel.Backends {
			r := fr.byBackend[b]
			whole = whole && r.whole
			same = same && r.diff == ""
		}
		if whole {
			loaded++
			if same {
				equal++
			}
		}
	}
	line := fmt.Sprintf("corpus: %d files, %d equal to the kernel, %d false errors (%d loaded whole by the kernel, backend nft and legacy)\n",
		n, equal, falseErrs, loaded)
	fmt.Print(line)
	if err := kerneldiff.AppendSummary(line); err != nil {
		t.Error(err)
	}
	if len(results) != n {
		t.Errorf("only %d of %d files were compared", len(results), n)
	}
}

// buildIpsift builds the command once: the test compares what a user
// runs, `ipsift save` and `ipsift check`, not a library call.
func buildIpsift(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ipsift")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ipsift/ipsift/cmd/ipsift").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/ipsift: %v\n%s", err, out)
	}
	return bin
}

// runIpsift runs ipsift and returns its standard output; the error
// carries the exit status and standard error.
func runIpsift(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ipsift %s: %v: %s", strings.Join(args, " "), err, firstLines(stderr.String(), 6))
	}
	return stdout.String(), nil
}

// withoutEmptyLegacyTables drops, for the legacy backend only, the tables
// the kernel holds with nothing in them (built-in chains only, every
// policy ACCEPT, no rule) that ipsift does not print: iptables-legacy
// creates a table when a command merely touches it (-F, -X, -Z, -L),
// where iptables-nft, which ipsift follows, creates none
// (internal/kernel/NOTES.md, section 0).
func withoutEmptyLegacyTables(b kernel.Backend, kernelSave, ipsiftSave string) string {
	if b != kernel.Legacy {
		return kernelSave
	}
	var out strings.Builder
	for _, block := range strings.SplitAfter(kernelSave, "COMMIT\n") {
		name, empty := "", true
		for _, l := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(l, "*"):
				name = l
			case strings.HasPrefix(l, "-A "):
				empty = false
			case strings.HasPrefix(l, ":"):
				if f := strings.Fields(l); len(f) < 2 || f[1] != "ACCEPT" {
					empty = false
				}
			}
		}
		if name != "" && empty && !strings.Contains(ipsiftSave, "\n"+name+"\n") && !strings.HasPrefix(ipsiftSave, name+"\n") {
			continue
		}
		out.WriteString(block)
	}
	return out.String()
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, " / ")
}

// runScript runs e's script in the firewall's namespace, in the
// sandbox of kernel.RunScript, and reports whether every iptables
// command in it succeeded (queries aside, and IPv6: ipsift skips it with
// a warning, so it is not compared).
func runScript(t *testing.T, fw *kernel.Firewall, e Entry) (whole bool, failed string) {
	t.Helper()
	uses := make([]string, len(e.Uses))
	for i, u := range e.Uses {
		uses[i] = filepath.Join("testdata", u)
	}
	run, err := fw.RunScript(kernel.Script{Path: filepath.Join("testdata", e.File), Args: e.Args, Files: uses})
	if os.Getenv("IPSIFT_CORPUS_DEBUG") != "" {
		t.Logf("%s: script output:\n%s%s", fw.Backend, run.Stdout, run.Stderr)
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", fw.Backend, err, tail(run.Stdout+run.Stderr, 20))
	}
	var fails []string
	for _, c := range run.Failed {
		if !isIPv6(c.Command) {
			fails = append(fails, c.String())
		}
	}
	if len(fails) > 0 {
		return false, strings.Join(fails, "\n")
	}
	return true, ""
}

// isIPv6 reports an ip6tables command: IPv6 is not compared (ipsift
// skips it with a warning).
func isIPv6(cmdline string) bool {
	return strings.HasPrefix(cmdline, "ip6tables")
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

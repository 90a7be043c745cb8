// Package corpus holds real firewall files from public repositories (in
// testdata/, described by testdata/manifest.json) and the test that loads
// each into the kernel and into ipsift and compares the results: the
// rules iptables-save prints after the kernel loaded the file, on both
// iptables backends, against `ipsift save`, and `ipsift check` against
// what the kernel accepted (see corpus_kernel_test.go).
//
// The manifest says for every file where it came from (repository,
// commit, path), under which licence, whether it is a copy or was
// written in the style of a file whose licence does not allow one, and
// why it was chosen. Its categories are those the corpus must cover:
// shell scripts built from functions, loops and conditions; restore
// files that tools generate (ufw, Docker, kube-proxy, fail2ban,
// firewalld), taken as the tool loads them; how-to and distribution
// scripts.
package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Kinds of file: how the kernel side loads it.
const (
	KindScript  = "script"  // run with bash in the namespace
	KindRestore = "restore" // fed to iptables-restore
)

// Categories a file counts towards.
const (
	CatProgram = "program" // a shell script with functions, loops and conditions
	CatTool    = "tool"    // a restore file a tool generates
	CatHowto   = "howto"   // a how-to's or a distribution's script or rules
	CatOther   = "other"
)

// Entry is one file of the corpus.
type Entry struct {
	File     string   `json:"file"`     // path under testdata/
	Kind     string   `json:"kind"`     // KindScript or KindRestore
	Category string   `json:"category"` // CatProgram, CatTool, CatHowto or CatOther
	Args     []string `json:"args,omitempty"`
	Repo     string   `json:"repo"`    // owner/name on GitHub
	Commit   string   `json:"commit"`  // the commit the file was read at
	Path     string   `json:"path"`    // its path in the repository
	Licence  string   `json:"licence"` // SPDX identifier, or "none" (no licence: written in its style)
	// Copy is "verbatim", "adapted" (what changed is in Why) or
	// "written" (in the style of the source, whose licence does not
	// allow a copy).
	Copy string `json:"copy"`
	Why  string `json:"why"`
	// Uses lists other corpus files the script reads (source, .), copied
	// next to it when it runs.
	Uses []string `json:"uses,omitempty"`
}

// Load reads the manifest of the corpus in dir.
func Load(dir string) ([]Entry, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var es []Entry
	if err := json.Unmarshal(data, &es); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return es, nil
}

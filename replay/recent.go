package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// RecentLists are the xt_recent lists of the live host when the capture
// began (--recent DIR): a copy of /proc/net/xt_recent and the kernel's
// jiffies when it was made, which put the lists' times on the capture's
// clock.
type RecentLists struct {
	Jiffies uint64
	Names   []string // sorted
	Lists   map[string][]ext.RecentEntry
}

// RecentJiffiesFile is the file of a --recent directory that holds the
// kernel's jiffies when the lists were copied: the first "jiffies: N"
// line of /proc/timer_list, or N alone.
const RecentJiffiesFile = "jiffies"

// RecentRecipe is how to make a --recent directory on the live host,
// right before the capture starts.
const RecentRecipe = `mkdir recent && cp /proc/net/xt_recent/* recent/ && grep -m1 '^jiffies' /proc/timer_list > recent/jiffies`

// ReadRecentDir reads a --recent directory: one file per list, named
// as the list and in the format of /proc/net/xt_recent/NAME, and the
// file jiffies (RecentJiffiesFile). Errors name the file and line.
func ReadRecentDir(dir string) (*RecentLists, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rl := &RecentLists{Lists: map[string][]ext.RecentEntry{}}
	haveJiffies := false
	for _, de := range ents {
		if de.IsDir() {
			continue
		}
		path := filepath.Join(dir, de.Name())
		if de.Name() == RecentJiffiesFile {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			s := strings.TrimSpace(string(data))
			s = strings.TrimSpace(strings.TrimPrefix(s, "jiffies:"))
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[:i]
			}
			j, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: want the kernel's jiffies when the lists were copied, a number or the first 'jiffies: N' line of /proc/timer_list; got %q", path, s)
			}
			rl.Jiffies, haveJiffies = j, true
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		es, err := ext.ParseRecentProc(f, path)
		f.Close()
		if err != nil {
			return nil, err
		}
		rl.Lists[de.Name()] = es
		rl.Names = append(rl.Names, de.Name())
	}
	if !haveJiffies {
		return nil, fmt.Errorf("%s has no file %s: the lists' times are the kernel's jiffies, which ipsift can only place on the capture's clock knowing the jiffies when they were copied; make the directory with: %s", dir, RecentJiffiesFile, RecentRecipe)
	}
	sort.Strings(rl.Names)
	return rl, nil
}

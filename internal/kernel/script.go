package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ScriptRun is what running a firewall script did.
type ScriptRun struct {
	Stdout, Stderr string
	// ExitCode is the script's exit status (a failing iptables command
	// does not end a script without set -e, so 0 says little).
	ExitCode int
	// Stubbed lists the commands the script ran that are neither a shell
	// builtin nor iptables (nor ipset), in order: each did nothing and
	// succeeded.
	Stubbed []string
}

// scriptTools are the commands a script run gets for real, all of them
// the backend's.
var scriptTools = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// RunScript runs a firewall shell script (the file at path, with args) in
// the firewall namespace as a host would run it, with the iptables of the
// firewall's backend as the only real commands: the kernel ends up with
// whatever the real iptables made of the script, independently of how
// ipsift reads it. The script runs under bash (its #! line is not
// consulted); PATH holds only iptables, iptables-save, iptables-restore,
// their ip6tables counterparts (all the backend's) and ipset when it is
// installed, and every other command is a stub that does nothing and
// succeeds (ScriptRun.Stubbed names them). A script that calls
// /sbin/iptables or /usr/sbin/iptables by its absolute path gets the
// backend's too: the run has a mount namespace of its own in which the
// system's iptables binary is the backend's. The legacy backend's lock
// file is the run's own, so the run never waits for other processes.
//
// The error is for a run that could not be started or was killed; a
// script that exits non-zero is reported in ExitCode.
func (f *Firewall) RunScript(path string, args ...string) (ScriptRun, error) {
	var res ScriptRun
	script, err := filepath.Abs(path)
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "ipsift-script-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return res, err
	}
	// The backend's multi-call binary picks its behaviour from the name
	// it is run by, so each name is a link to it.
	real, err := filepath.EvalSymlinks(toolPath(f.Backend.tool("")))
	if err != nil {
		return res, fmt.Errorf("finding the %s iptables: %w", f.Backend, err)
	}
	for _, name := range scriptTools {
		if err := os.Symlink(real, filepath.Join(bin, name)); err != nil {
			return res, err
		}
	}
	if p, err := lookTool("ipset"); err == nil {
		if err := os.Symlink(p, filepath.Join(bin, "ipset")); err != nil {
			return res, err
		}
	}
	// bash runs command_not_found_handle for a command it cannot find:
	// the stub records the name and succeeds. BASH_ENV defines it in the
	// non-interactive shell that runs the script.
	stubbed := filepath.Join(dir, "stubbed")
	env := filepath.Join(dir, "env.sh")
	if err := os.WriteFile(env, []byte(fmt.Sprintf("command_not_found_handle() { printf '%%s\\n' \"$1\" >> %s; return 0; }\n", shellQuote(stubbed))), 0o644); err != nil {
		return res, err
	}
	// The system's iptables (whatever /usr/sbin/iptables resolves to) is
	// bound over with the backend's in the run's own mount namespace.
	var binds []string
	seen := map[string]bool{real: true}
	for _, name := range scriptTools {
		for _, d := range sbinDirs {
			t, err := filepath.EvalSymlinks(filepath.Join(d, name))
			if err != nil || seen[t] {
				continue
			}
			seen[t] = true
			binds = append(binds, fmt.Sprintf("{ mount --bind %s %s || exit %d; }", shellQuote(real), shellQuote(t), setupFailed))
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return res, err
	}
	unshare, err := lookTool("unshare")
	if err != nil {
		return res, err
	}
	setup := strings.Join(append(binds, `exec env -i PATH="$1" HOME=/ BASH_ENV="$2" XTABLES_LOCKFILE="$3" "$4" "$5" "${@:6}"`), "; ")
	cmdArgs := append([]string{"netns", "exec", f.NS, unshare, "--mount", "--propagation", "private", bash, "-c", setup, "run-script",
		bin, env, filepath.Join(dir, "xtables.lock"), bash, script}, args...)
	cmd := exec.Command(toolPath("ip"), cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.Exited() && exit.ExitCode() == setupFailed && strings.Contains(res.Stderr, "mount"):
		return res, fmt.Errorf("running %s in %s: the backend's iptables could not be bound over the system's: %s", path, f.NS, strings.TrimSpace(res.Stderr))
	case errors.As(err, &exit) && exit.Exited():
		res.ExitCode = exit.ExitCode()
	case err != nil:
		return res, fmt.Errorf("running %s in %s: %w: %s", path, f.NS, err, strings.TrimSpace(res.Stderr))
	}
	if data, err := os.ReadFile(stubbed); err == nil {
		res.Stubbed = strings.Fields(string(data))
	}
	return res, nil
}

// setupFailed is the exit status of a run whose mount namespace could not
// be set up (the script did not run).
const setupFailed = 125

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

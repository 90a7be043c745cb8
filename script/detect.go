package script

import "bytes"

// LooksLikeScript tells a shell script of iptables commands from an
// iptables-restore file, by its first line that is neither blank nor a
// comment: a restore file starts with *table, :CHAIN POLICY, a rule
// (-A ...) or COMMIT; anything else, a #! line included, is a script.
func LooksLikeScript(src []byte) bool {
	if bytes.HasPrefix(src, []byte("#!")) {
		return true
	}
	for _, line := range bytes.Split(src, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		switch {
		case line[0] == '*' || line[0] == '-':
			return false
		case line[0] == ':' && len(line) > 1 && line[1] != ' ' && line[1] != '\t':
			// ":INPUT ACCEPT [0:0]"; the shell's ':' command is
			// followed by a blank.
			return false
		case bytes.Equal(line, []byte("COMMIT")):
			return false
		}
		return true
	}
	return true
}

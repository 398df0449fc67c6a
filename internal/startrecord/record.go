package startrecord

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Record is what one start did.
type Record struct {
	// Start is the start's kind: "root" or "setuid".
	Start    string
	UID, GID int
	Groups   []int
	User     string
	Home     string
	// AuthSock is the SSH_AUTH_SOCK the command got, "" for none.
	AuthSock string
	// RelayPID is the relay's supervisor, 0 without a relay.
	RelayPID int
	Sockets  []Socket
	// Warnings are what the start warned of, without their hints.
	Warnings []string
}

// Socket is what a start did with one socket.
type Socket struct {
	Path string
	Mode string
	Why  string
}

// maxValue bounds one value: a longer one (an environment value can be
// far longer than any path) is left out, and so is one that would break
// a line.
const maxValue = 4096

// Marshal writes r as KEY=VALUE lines, one value per line; a value with a
// newline or NUL in it, or longer than a path may be, is left out, and so
// is a socket whose path or reason holds a tab, which ends its path.
func (r Record) Marshal() []byte {
	var b bytes.Buffer
	put := func(key, value string) {
		if value == "" || len(value) > maxValue || strings.ContainsAny(value, "\n\x00") {
			return
		}
		b.WriteString(key + "=" + value + "\n")
	}
	put("start", r.Start)
	put("uid", strconv.Itoa(r.UID))
	put("gid", strconv.Itoa(r.GID))
	groups := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		groups[i] = strconv.Itoa(g)
	}
	put("groups", strings.Join(groups, ","))
	put("user", r.User)
	put("home", r.Home)
	put("SSH_AUTH_SOCK", r.AuthSock)
	if r.RelayPID > 0 {
		put("relay_pid", strconv.Itoa(r.RelayPID))
	}
	for _, s := range r.Sockets {
		if s.Mode == "" || strings.ContainsAny(s.Mode, " \t\n\x00") || strings.ContainsAny(s.Path+s.Why, "\t\n\x00") {
			continue
		}
		put("socket", s.Mode+" "+s.Path+"\t"+s.Why)
	}
	for _, w := range r.Warnings {
		put("warning", w)
	}
	return b.Bytes()
}

// Parse reads a record written by Marshal. Keys it does not know are
// skipped, so that a newer start's record still reads.
func Parse(data []byte) (Record, error) {
	var r Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxValue+64)
	for n := 1; sc.Scan(); n++ {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.ContainsRune(value, 0) {
			return r, fmt.Errorf("parse start record: line %d: not KEY=VALUE", n)
		}
		var err error
		switch key {
		case "start":
			r.Start = value
		case "uid":
			r.UID, err = parseID(value)
		case "gid":
			r.GID, err = parseID(value)
		case "groups":
			for _, g := range strings.Split(value, ",") {
				var id int
				if id, err = parseID(g); err != nil {
					break
				}
				r.Groups = append(r.Groups, id)
			}
		case "user":
			r.User = value
		case "home":
			r.Home = value
		case "SSH_AUTH_SOCK":
			r.AuthSock = value
		case "relay_pid":
			r.RelayPID, err = parseID(value)
		case "socket":
			mode, rest, ok1 := strings.Cut(value, " ")
			path, why, ok2 := strings.Cut(rest, "\t")
			if !ok1 || !ok2 {
				err = fmt.Errorf("want MODE PATH<tab>WHY")
				break
			}
			r.Sockets = append(r.Sockets, Socket{Path: path, Mode: mode, Why: why})
		case "warning":
			r.Warnings = append(r.Warnings, value)
		}
		if err != nil {
			return r, fmt.Errorf("parse start record: line %d: %s: %w", n, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("parse start record: %w", err)
	}
	if r.Start == "" {
		return r, fmt.Errorf("parse start record: no start kind")
	}
	return r, nil
}

func parseID(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil || s != strconv.FormatUint(n, 10) {
		return 0, fmt.Errorf("not an id: %q", s)
	}
	return int(n), nil
}

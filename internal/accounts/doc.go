// Package accounts reads the account files (/etc/passwd, /etc/group,
// /etc/shadow, /etc/gshadow) as glibc's files backend reads them, works out
// the target identity and decides which lines must be added or changed for
// it to exist.
//
// It is pure: it works on file contents handed to it and returns lines to
// write; package accountfiles reads and writes the files. A lookup scans
// the bytes and parses only the lines it reaches, so a start pays for no
// entry it does not look at.
//
// It follows glibc's reading rules: white space before a line is skipped,
// blank lines and lines starting with '#' are not entries, ids are read as
// strtoul reads them, a line glibc cannot parse is no entry, and nss_compat's
// "+" and "-" lines are never found by name or id. Where such an unreadable
// line names the very uid or gid being resolved, Resolve refuses rather
// than guess what was meant.
//
// It deliberately does not: remove or rename entries, edit member lists of
// existing groups (supplementary groups are set at the privilege drop, not
// written down), set passwords, or copy /etc/skel.
package accounts

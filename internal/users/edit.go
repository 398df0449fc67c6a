package users

import "bytes"

// putEntry returns data with the entry named name set to line. The first
// line whose name field is name is replaced; without one, line is appended,
// after a newline if data lacks a final one. Every other byte of data is
// kept as it was. line must not contain a newline.
func putEntry(data []byte, name, line string) []byte {
	start, end, ok := findEntry(data, name)
	if !ok {
		out := make([]byte, 0, len(data)+len(line)+2)
		out = append(out, data...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, line...)
		return append(out, '\n')
	}
	out := make([]byte, 0, len(data)-(end-start)+len(line))
	out = append(out, data[:start]...)
	out = append(out, line...)
	return append(out, data[end:]...)
}

// findEntry returns the byte range, without its newline, of the first line
// of data whose name field (the text before the first ':') is name.
func findEntry(data []byte, name string) (start, end int, ok bool) {
	for start < len(data) {
		end = bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		line := data[start:end]
		if len(line) > len(name) && line[len(name)] == ':' && string(line[:len(name)]) == name {
			return start, end, true
		}
		start = end + 1
	}
	return 0, 0, false
}

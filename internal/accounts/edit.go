package accounts

// putEntry returns data with the entry named name set to text. The first
// line whose name field is name is replaced; without one, text is
// appended, after a newline if data lacks a final one. Every other byte of
// data is kept as it was. text must not contain a newline.
func putEntry(data []byte, name, text string) []byte {
	start, end, ok := findEntry(data, name)
	if !ok {
		out := make([]byte, 0, len(data)+len(text)+2)
		out = append(out, data...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, text...)
		return append(out, '\n')
	}
	out := make([]byte, 0, len(data)-(end-start)+len(text))
	out = append(out, data[:start]...)
	out = append(out, text...)
	return append(out, data[end:]...)
}

// findEntry returns the byte range of the first line of data whose name
// field (the text before the first ':') is name, as glibc's reader sees
// lines: white space before the name is not part of the range, and blank
// and comment lines are never a match. A line glibc cannot parse
// otherwise still matches: it holds the name.
func findEntry(data []byte, name string) (start, end int, ok bool) {
	eachLine(data, func(l line) bool {
		if len(l.text) > len(name) && l.text[len(name)] == ':' && string(l.text[:len(name)]) == name {
			start, end, ok = l.start, l.end, true
			return false
		}
		return true
	})
	return start, end, ok
}

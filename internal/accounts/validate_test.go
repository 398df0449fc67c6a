package accounts

import (
	"errors"
	"testing"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"1000", 1000, true},
		{"2147483647", MaxID, true},
		{"1000680000", 1000680000, true},
		{"", 0, false},
		{"abc", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{" 5", 0, false},
		{"5\n", 0, false},
		{"007", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"2147483648", 0, false},
		{"4294967295", 0, false},
		{"99999999999", 0, false},
		{"99999999999999999999999", 0, false},
	} {
		got, err := ParseID(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseID(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) error %v is not ErrInvalidID", tc.in, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"alice", true},
		{"John.Doe", true},
		{"_apt", true},
		{"build-bot", true},
		{"user1000", true},
		{"host$", true},
		{"abcdefghijklmnopqrstuvwxyz012345", true},
		{"", false},
		{"abcdefghijklmnopqrstuvwxyz0123456", false},
		{"-rf", false},
		{"a:b", false},
		{"a\nroot::0:0::/:/bin/sh", false},
		{"a,b", false},
		{"a b", false},
		{"a/b", false},
		{"1000", false},
		{".", false},
		{"..", false},
		{"a$b", false},
		{"é", false},
		{"a\x00", false},
	} {
		err := CheckName(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) error %v is not ErrInvalidName", tc.in, err)
		}
	}
}

func TestCheckHome(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"/home/alice", true},
		{"/workspace", true},
		{"/", true},
		{"", false},
		{"home/alice", false},
		{"/home/../etc", false},
		{"/home/alice/", false},
		{"//etc", false},
		{"/home/a:b", false},
		{"/home/a\nb", false},
	} {
		if err := CheckHome(tc.in); tc.ok != (err == nil) {
			t.Errorf("CheckHome(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

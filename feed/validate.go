package feed

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validation messages, as the original service's express-validator rules
// produce them.
const (
	MsgInvalidEmail = "Please enter a valid email."
	MsgEmailTaken   = "E-Mail address already exists!"
	MsgInvalidValue = "Invalid value"
)

// Limits on text fields. The contract sets the minimums; the maximums keep one
// request from storing megabytes of text.
const (
	MinPasswordLen = 5
	MaxPasswordLen = 72 // bytes: bcrypt ignores anything longer
	MinPostTextLen = 5
	MaxTitleLen    = 200   // characters
	MaxContentLen  = 10000 // characters
	MaxNameLen     = 100   // characters
	MaxStatusLen   = 500   // characters
	maxEmailLen    = 254
)

// ValidEmail reports whether s is an email address in the usual sense
// (what validator.js isEmail accepts, without its rarer forms): a local part
// of at most 64 characters without spaces, "@", and a domain of dot-separated
// labels ending in a top-level domain of at least two letters.
func ValidEmail(s string) bool {
	if len(s) > maxEmailLen || !utf8.ValidString(s) {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("\"(),:;<>@[\\]", r) {
			return false
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if utf8.RuneCountInString(tld) < 2 {
		return false
	}
	for _, r := range tld {
		if r >= '0' && r <= '9' || r == '-' {
			return false
		}
	}
	return true
}

// NormalizeEmail returns the form emails are stored and compared in:
// trimmed and lower-cased.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func fieldError(location, param string, value *string, msg string) FieldError {
	return FieldError{Location: location, Param: param, Value: value, Msg: msg}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr(s string) *string { return &s }

// trimmed returns the field trimmed, nil staying nil, as express-validator's
// trim() sanitizer does before the rules that follow it.
func trimmed(p *string) *string {
	if p == nil {
		return nil
	}
	return ptr(strings.TrimSpace(*p))
}

// ValidatePost checks a post's title and content: each at least
// MinPostTextLen characters after trimming, and not over its maximum.
// It returns an EInvalid *Error with message "Validation failed, entered data
// is incorrect." listing the failed fields, or nil.
func ValidatePost(title, content *string) error {
	var data []FieldError
	check := func(param string, v *string, max int) {
		t := trimmed(v)
		n := utf8.RuneCountInString(deref(t))
		switch {
		case n < MinPostTextLen:
			data = append(data, fieldError("body", param, t, MsgInvalidValue))
		case n > max:
			data = append(data, fieldError("body", param, t, "Must be at most "+strconv.Itoa(max)+" characters."))
		}
	}
	check("title", title, MaxTitleLen)
	check("content", content, MaxContentLen)
	if data != nil {
		return &Error{Code: EInvalid, Message: "Validation failed, entered data is incorrect.", Data: data}
	}
	return nil
}

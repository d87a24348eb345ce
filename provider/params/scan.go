package params

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The driver sends the attributes and the token map as JSON text, and
// every Mount (every republish of every pod) decodes them. encoding/json
// decoding them into maps through reflection was the largest cost of a
// Mount whose secrets are cached, so the usual shapes are read by the
// small scanner below. It answers only when it is sure to answer as
// encoding/json would: anything unusual (a non-ASCII byte, a surrogate
// escape, a value that is not a string, an unknown field in a token
// entry, malformed text) makes it decline, and the caller decodes the text
// with encoding/json, which also words any error.

// jsonScanner reads JSON text at s[i:].
type jsonScanner struct {
	s string
	i int
}

func (sc *jsonScanner) space() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c, reporting whether it was there.
func (sc *jsonScanner) next(c byte) bool {
	sc.space()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// members reads the members of an object whose '{' was just read, up to
// and with its '}': each key and its ':', then member, which reads the
// value. False when the text is not such an object or member declines.
func (sc *jsonScanner) members(member func(key string) bool) bool {
	if sc.next('}') {
		return true
	}
	for {
		key, ok := sc.str(false)
		if !ok || !sc.next(':') || !member(key) {
			return false
		}
		if sc.next('}') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// end reports whether only whitespace is left.
func (sc *jsonScanner) end() bool {
	sc.space()
	return sc.i == len(sc.s)
}

// null consumes the literal null.
func (sc *jsonScanner) null() bool {
	sc.space()
	if len(sc.s)-sc.i >= 4 && sc.s[sc.i:sc.i+4] == "null" {
		sc.i += 4
		return true
	}
	return false
}

// str reads a string. Without escapes it is a substring of the text
// (copied when owned is set, so what a caller keeps never holds the rest
// of the text alive: the attributes hold the pod's token). ok is false for
// what the scanner declines.
func (sc *jsonScanner) str(owned bool) (string, bool) {
	sc.space()
	if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
		return "", false
	}
	start := sc.i + 1
	for j := start; j < len(sc.s); j++ {
		for j < len(sc.s) && plain[sc.s[j]] { // most of a string: a tight loop
			j++
		}
		if j == len(sc.s) {
			break
		}
		switch c := sc.s[j]; {
		case c == '"':
			sc.i = j + 1
			if owned {
				return string([]byte(sc.s[start:j])), true
			}
			return sc.s[start:j], true
		case c == '\\':
			return sc.escaped(start, j)
		case c < 0x20 || c >= utf8.RuneSelf:
			return "", false
		}
	}
	return "", false
}

// escaped reads the rest of a string that has an escape at j, the
// unescaped text from start to j read already; the result is always a new
// string, of one allocation no larger than the escaped text.
func (sc *jsonScanner) escaped(start, j int) (string, bool) {
	end := j
	for end < len(sc.s) && sc.s[end] != '"' {
		if sc.s[end] == '\\' {
			end++
		}
		end++
	}
	var b strings.Builder
	b.Grow(end - start) // unescaping only shortens
	b.WriteString(sc.s[start:j])
	for j < len(sc.s) {
		if plain[sc.s[j]] { // a run of plain bytes, copied at once
			k := j + 1
			for k < len(sc.s) && plain[sc.s[k]] {
				k++
			}
			b.WriteString(sc.s[j:k])
			j = k
			continue
		}
		switch c := sc.s[j]; {
		case c == '"':
			sc.i = j + 1
			return b.String(), true
		case c != '\\': // a control character or a non-ASCII byte
			return "", false
		}
		if j+1 >= len(sc.s) {
			return "", false
		}
		switch e := sc.s[j+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if j+6 > len(sc.s) {
				return "", false
			}
			r, err := strconv.ParseUint(sc.s[j+2:j+6], 16, 32)
			// Surrogates (pairs, or lone ones encoding/json replaces) are
			// left to encoding/json.
			if err != nil || (r >= 0xd800 && r <= 0xdfff) {
				return "", false
			}
			b.WriteRune(rune(r))
			j += 6
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

// plain are the bytes a string holds as they are: not '"', '\\', a
// control character or a non-ASCII byte.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// attributes are the Mount attributes parse reads, and whether the
// pathTranslation parameter was set.
type attributes struct {
	podName, podNamespace, podUID, serviceAccount string
	tokens, spc, region, objects                  string
	pathTranslation                               string
	pathTranslationSet                            bool
	// more holds the other parameters parse reads (Pod Identity,
	// cross-account, ascpCompat, ASCP's failover), which a PMP class
	// rarely sets: nil until one is there.
	more map[string]string
}

// set keeps value if key is one of the attributes parse reads.
func (a *attributes) set(key, value string) {
	switch key {
	case AttrPodName:
		a.podName = value
	case AttrPodNamespace:
		a.podNamespace = value
	case AttrPodUID:
		a.podUID = value
	case AttrServiceAccount:
		a.serviceAccount = value
	case AttrTokens:
		a.tokens = value
	case AttrSPC:
		a.spc = value
	case ParamRegion:
		a.region = value
	case ParamObjects:
		a.objects = value
	case ParamPathTranslation:
		a.pathTranslation, a.pathTranslationSet = value, true
	case ParamUsePodIdentity, ParamPreferredAddressType, ParamAssumeRoleARN, ParamAssumeRoleExternalID,
		ParamAssumeRoleDuration, ParamASCPCompat, ParamFailoverRegion:
		if a.more == nil {
			a.more = map[string]string{}
		}
		a.more[key] = value
	}
}

// wanted reports whether parse reads the attribute key.
func wanted(key string) bool {
	switch key {
	case AttrPodName, AttrPodNamespace, AttrPodUID, AttrServiceAccount, AttrTokens, AttrSPC, ParamRegion, ParamObjects, ParamPathTranslation,
		ParamUsePodIdentity, ParamPreferredAddressType, ParamAssumeRoleARN, ParamAssumeRoleExternalID,
		ParamAssumeRoleDuration, ParamASCPCompat, ParamFailoverRegion:
		return true
	}
	return false
}

// scanAttributes reads a JSON object of strings (or null) as
// encoding/json reads it into a map[string]string, keeping the attributes
// parse reads; ok is false when it declines (see above). The values kept
// are copies, never substrings of s.
func scanAttributes(s string) (a attributes, ok bool) {
	sc := jsonScanner{s: s}
	if sc.null() {
		return a, sc.end()
	}
	ok = sc.next('{') && sc.members(func(key string) bool {
		// Only the values kept are copied; an escaped one is a copy already.
		value, ok := sc.str(wanted(key))
		if ok {
			a.set(key, value)
		}
		return ok
	})
	return a, ok && sc.end()
}

// tokenEntry is one audience's entry of the driver's token map.
type tokenEntry struct{ audience, token, expires string }

// scanTokens reads the driver's token map (audience -> {token,
// expirationTimestamp}) as encoding/json reads it into parseTokens' map,
// appending each audience's entry to dst (a later entry of an audience
// replaces an earlier one, as in a map). ok is false when it declines:
// any field but those two, or a value that is not a string, is left to
// encoding/json.
func scanTokens(s string, dst []tokenEntry) ([]tokenEntry, bool) {
	sc := jsonScanner{s: s}
	if sc.null() {
		return dst, sc.end()
	}
	ok := sc.next('{') && sc.members(func(aud string) bool {
		e := tokenEntry{audience: aud}
		ok := sc.next('{') && sc.members(func(field string) bool {
			value, ok := sc.str(false)
			switch {
			case !ok:
				return false
			case field == "token":
				e.token = value
			case field == "expirationTimestamp":
				e.expires = value
			default:
				return false
			}
			return true
		})
		if ok {
			dst = putToken(dst, e)
		}
		return ok
	})
	return dst, ok && sc.end()
}

// putToken appends e to dst, or replaces dst's entry of e's audience.
func putToken(dst []tokenEntry, e tokenEntry) []tokenEntry {
	for i := range dst {
		if dst[i].audience == e.audience {
			dst[i] = e
			return dst
		}
	}
	return append(dst, e)
}

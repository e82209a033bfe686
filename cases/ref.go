package cases

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
)

// refAlphabet is Crockford's base32: no I, L, O or U, so a reference read out over
// the phone is not misheard or misread.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// RefLength is the number of characters after the prefix: 32^6 ≈ 10^9 references.
const RefLength = 6

// RefCandidate returns the n-th candidate reference for an intake key. The sequence
// is the same every time for the same key, so a retried submission walks the same
// candidates and finds the case it created before; a rare collision with another
// key's case just moves on to the next candidate. Uniqueness itself is enforced by
// the workflow ID (case-<ref>), never by a counter.
func RefCandidate(prefix, intakeKey string, n int) string {
	sum := sha256.Sum256([]byte(intakeKey + "\x00" + strconv.Itoa(n)))
	v := binary.BigEndian.Uint64(sum[:8])
	var b strings.Builder
	b.Grow(len(prefix) + RefLength)
	b.WriteString(prefix)
	for range RefLength {
		b.WriteByte(refAlphabet[v&31])
		v >>= 5
	}
	return b.String()
}

// NormalizeRef reads a reference as a person might type it: any case, with the
// letters Crockford's alphabet treats as digits (O→0, I and L→1).
func NormalizeRef(prefix, s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	rest, ok := strings.CutPrefix(s, strings.ToUpper(prefix))
	if !ok {
		return s
	}
	r := strings.NewReplacer("O", "0", "I", "1", "L", "1")
	return prefix + r.Replace(rest)
}

// ValidRef reports whether s has the shape of a reference with the given prefix.
func ValidRef(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != RefLength {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune(refAlphabet, c) {
			return false
		}
	}
	return true
}

// WorkflowID is the Temporal workflow ID of the case with this reference.
func WorkflowID(ref string) string { return "case-" + ref }

package cases

import (
	"fmt"
	"unicode/utf8"
)

// MaxNotesJSON bounds what all the notes on a case's timeline take once
// encoded as JSON, as Temporal stores them. A case travels whole in every
// update's answer and in its continue-as-new input, and Temporal refuses a
// payload over 2 MiB, failing the workflow task: without this bound, enough
// maximal notes (about 35 written in characters JSON escapes six-fold, such
// as '<') would leave a case that can no longer be changed. A megabyte of
// notes is hundreds of long notes; a report at every limit adds under half a
// megabyte more.
const MaxNotesJSON = 1 << 20

// notesJSON is what the timeline's notes take in JSON.
func (c *Case) notesJSON() int {
	n := 0
	for _, e := range c.Timeline {
		n += jsonCost(e.Note)
	}
	return n
}

// jsonCost is the length of s as Go's encoding/json writes it (which is what
// Temporal's data converter uses): HTML-sensitive characters, control
// characters and the JavaScript line separators become six-byte escapes,
// quotes and backslashes two bytes, invalid UTF-8 a three-byte U+FFFD.
func jsonCost(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // written as \ufffd
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// checkRoom refuses a note the case has no room left for.
func (c *Case) checkRoom(field, note string) error {
	if note == "" {
		return nil
	}
	if used := c.notesJSON(); used+jsonCost(note) > MaxNotesJSON {
		return &InputError{Field: field, Reason: fmt.Sprintf(
			"this case already holds %d KiB of notes, near the most one case can hold (%d KiB); shorten the note, or record the rest in the department's own system", used>>10, MaxNotesJSON>>10)}
	}
	return nil
}

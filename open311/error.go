package open311

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is an Open311 error reply: the HTTP status and the spec's list of errors. Every
// error the decoders return is an *Error, and WriteError writes one as the spec's
// errors document.
type Error struct {
	// Status is the HTTP status: 404 for a resource that does not exist, 403 for a
	// missing or wrong api_key, 400 for anything else the client got wrong.
	Status   int
	Problems []Problem
}

// Problem is one entry of the errors list.
type Problem struct {
	// Code is usually the HTTP status; the spec lets it carry a more specific number.
	Code int
	// Description says what is wrong, naming the parameter at fault, for the client's
	// developer to act on.
	Description string
}

func (e *Error) Error() string {
	descs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		descs[i] = p.Description
	}
	return fmt.Sprintf("open311: %d: %s", e.Status, strings.Join(descs, "; "))
}

// BadRequest is a 400 error with one problem.
func BadRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// Forbidden is a 403 error with one problem: a missing or wrong api_key.
func Forbidden(format string, args ...any) *Error {
	return newError(http.StatusForbidden, fmt.Sprintf(format, args...))
}

// NotFound is a 404 error with one problem: a service, request, token or jurisdiction
// that does not exist.
func NotFound(format string, args ...any) *Error {
	return newError(http.StatusNotFound, fmt.Sprintf(format, args...))
}

func newError(status int, desc string) *Error {
	return &Error{Status: status, Problems: []Problem{{Code: status, Description: desc}}}
}

// internalError stands in for any error that is not an *Error. Its own text stays out
// of the reply: it may hold internals or a citizen's personal data.
var internalError = Error{
	Status:   http.StatusInternalServerError,
	Problems: []Problem{{Code: http.StatusInternalServerError, Description: "internal server error: please try again later"}},
}

// WriteError writes err as the spec's errors document in f, with the HTTP status it
// carries. An *Error anywhere in err's chain is written as it is; any other error
// becomes a 500 that does not reveal its text. An unknown f falls back to XML.
func WriteError(w http.ResponseWriter, f Format, err error) error {
	e := &internalError
	if ae, ok := errors.AsType[*Error](err); ok && ae != nil {
		e = ae
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	problems := e.Problems
	if len(problems) == 0 {
		problems = []Problem{{Code: status, Description: http.StatusText(status)}}
	}
	if f != JSON {
		f = XML
	}
	body, merr := render(f, errorsTree(problems))
	if merr != nil {
		return merr
	}
	return writeBody(w, f, status, body)
}

func errorsTree(problems []Problem) node {
	items := make([]node, len(problems))
	for i, p := range problems {
		var f fields
		f.integer("code", p.Code)
		f.text("description", p.Description)
		items[i] = object("error", f)
	}
	return node{name: "errors", kind: kindList, kids: items}
}

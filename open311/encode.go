package open311

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Body is an Open311 response document: Discovery, Services, ServiceDefinition,
// Receipt, TokenLookup, Requests, Updates or UpdateReceipt.
type Body interface {
	tree() (node, error)
}

// Marshal encodes v in f. Times are written in UTC as RFC 3339 with whole seconds and
// a Z. An error means v breaks a rule the spec or FixMyStreet depends on (a required
// field is empty, a status is outside its vocabulary) and names it.
func Marshal(f Format, v Body) ([]byte, error) {
	if v == nil {
		return nil, errors.New("open311: nothing to marshal")
	}
	root, err := v.tree()
	if err != nil {
		return nil, fmt.Errorf("open311: %w", err)
	}
	return render(f, root)
}

// Write writes v in f with status 200. If v cannot be encoded it writes a 500 errors
// document instead and returns the reason, for the caller to log.
func Write(w http.ResponseWriter, f Format, v Body) error {
	body, err := Marshal(f, v)
	if err != nil {
		if werr := WriteError(w, f, err); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
	return writeBody(w, f, http.StatusOK, body)
}

func writeBody(w http.ResponseWriter, f Format, status int, body []byte) error {
	w.Header().Set("Content-Type", f.ContentType())
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// A node is one element of a document, written once and rendered either as XML or, by
// the Spark convention, as JSON; so the two formats cannot drift apart.
type node struct {
	name  string
	kind  kind
	value string // leaves only, as XML text
	kids  []node // objects and lists
}

type kind uint8

const (
	kindText   kind = iota // a string leaf
	kindNumber             // a leaf written bare in JSON
	kindBool               // a leaf written bare in JSON
	kindObject             // an element with named children; a JSON object
	kindList               // a container of repeated children; a JSON array
)

// fields collects the children of an object in document order.
type fields []node

func (f *fields) leaf(name string, k kind, v string) {
	*f = append(*f, node{name: name, kind: k, value: v})
}

func (f *fields) text(name, v string) { f.leaf(name, kindText, v) }

// optText writes v only when it is not empty: for the spec, an empty optional element
// and an absent one mean the same, and absent is shorter.
func (f *fields) optText(name, v string) {
	if v != "" {
		f.text(name, v)
	}
}

func (f *fields) boolean(name string, v bool) { f.leaf(name, kindBool, strconv.FormatBool(v)) }
func (f *fields) integer(name string, v int)  { f.leaf(name, kindNumber, strconv.Itoa(v)) }
func (f *fields) time(name string, t time.Time) {
	f.text(name, formatTime(t))
}

func (f *fields) optTime(name string, t time.Time) {
	if !t.IsZero() {
		f.time(name, t)
	}
}

// point writes lat and long, checking what a float can hold but WGS84 cannot.
func (f *fields) point(p *Point) error {
	if p == nil {
		return nil
	}
	if err := p.check(); err != nil {
		return err
	}
	f.leaf("lat", kindNumber, strconv.FormatFloat(p.Lat, 'f', -1, 64))
	f.leaf("long", kindNumber, strconv.FormatFloat(p.Long, 'f', -1, 64))
	return nil
}

func (f *fields) list(name string, items []node) {
	*f = append(*f, node{name: name, kind: kindList, kids: items})
}

// texts is a list of string leaves, such as <groups><group>…</group></groups>.
func (f *fields) texts(name, item string, vs []string) {
	items := make([]node, len(vs))
	for i, v := range vs {
		items[i] = node{name: item, kind: kindText, value: v}
	}
	f.list(name, items)
}

func object(name string, f fields) node {
	return node{name: name, kind: kindObject, kids: f}
}

// listOf builds a container of objects, one per element of xs.
func listOf[T any](name, item string, xs []T, build func(T) (fields, error)) (node, error) {
	items := make([]node, len(xs))
	for i, x := range xs {
		f, err := build(x)
		if err != nil {
			return node{}, fmt.Errorf("%s %d: %w", item, i, err)
		}
		items[i] = object(item, f)
	}
	return node{name: name, kind: kindList, kids: items}, nil
}

func render(f Format, root node) ([]byte, error) {
	switch f {
	case XML:
		return renderXML(root)
	case JSON:
		return renderJSON(root)
	}
	return nil, fmt.Errorf("open311: unknown format %q", f)
}

const xmlDeclaration = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// renderXML writes elements only: no attributes, no namespace, and text exactly as
// given, since FixMyStreet keeps whitespace inside text and reads an attribute on a
// value element as a failure.
func renderXML(root node) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlDeclaration)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := encodeXML(enc, root); err != nil {
		return nil, fmt.Errorf("open311: encode XML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("open311: encode XML: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func encodeXML(enc *xml.Encoder, n node) error {
	start := xml.StartElement{Name: xml.Name{Local: n.name}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	switch n.kind {
	case kindObject, kindList:
		for _, k := range n.kids {
			if err := encodeXML(enc, k); err != nil {
				return err
			}
		}
	default:
		if n.value != "" {
			if err := enc.EncodeToken(xml.CharData(n.value)); err != nil {
				return err
			}
		}
	}
	return enc.EncodeToken(start.End())
}

// renderJSON applies the Spark convention: the root element is dropped, containers
// become arrays and other elements become objects.
func renderJSON(root node) ([]byte, error) {
	var compact bytes.Buffer
	if err := encodeJSON(&compact, root); err != nil {
		return nil, fmt.Errorf("open311: encode JSON: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("open311: encode JSON: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func encodeJSON(b *bytes.Buffer, n node) error {
	switch n.kind {
	case kindText:
		return encodeJSONString(b, n.value)
	case kindNumber, kindBool:
		b.WriteString(n.value)
	case kindObject:
		b.WriteByte('{')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeJSONString(b, k.name); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodeJSON(b, k); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case kindList:
		b.WriteByte('[')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeJSON(b, k); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	return nil
}

// encodeJSONString leaves <, > and & alone: the body is served as JSON, never HTML, and
// URLs in it stay readable.
func encodeJSONString(b *bytes.Buffer, s string) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// finite reports whether v is an ordinary number, as JSON can only carry those.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

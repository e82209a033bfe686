package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store errors, wrapped with what was asked for. Mistakes in a rule set's text
// are Problems.
var (
	// ErrNotFound: the rule set, version or draft does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyActive: a rollback to the version that is active.
	ErrAlreadyActive = errors.New("already active")
)

// Version is a published text of a rule set. Versions never change; publishing
// adds one, and rolling back points the rule set at an older one.
type Version struct {
	Name    string    `json:"name"`
	Number  int       `json:"number"`
	Author  string    `json:"author"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	YAML    string    `json:"yaml"`
}

// Draft is the text of a rule set being edited; a rule set has at most one.
type Draft struct {
	Name   string    `json:"name"`
	Author string    `json:"author"`
	At     time.Time `json:"at"`
	YAML   string    `json:"yaml"`
	// Base is the version active when the draft was saved (0 if none), so an
	// editor can tell someone published since.
	Base int `json:"base"`
}

// Activation records a version being made active, by whom and why.
type Activation struct {
	Version int       `json:"version"`
	Action  string    `json:"action"` // "seed", "publish" or "rollback"
	Author  string    `json:"author"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Activation actions.
const (
	ActionSeed     = "seed"
	ActionPublish  = "publish"
	ActionRollback = "rollback"
)

// Store keeps versioned rule sets in Redis: immutable versions, one draft and
// one active version per rule set, and a log of activations. Publishing and
// rolling back announce the new active version on a pub/sub channel so every
// process's Watcher picks it up at once.
//
// Keys, with the configured prefix (all of one rule set share a hash slot):
//
//	<prefix>rules:{<name>}:versions  hash  number → Version JSON
//	<prefix>rules:{<name>}:seq       string the last version number
//	<prefix>rules:{<name>}:active    string the active version number
//	<prefix>rules:{<name>}:draft     string Draft JSON
//	<prefix>rules:{<name>}:log       list  Activation JSON, oldest first
//	<prefix>rules:names              set   rule set names
//	<prefix>rules:activated          pub/sub channel, {"name":..., "version":...}
//
// Redis is not where rule sets are kept for good: with an Archive (UseArchive),
// every version published and every activation is also recorded there, and
// Restore brings back what Redis lost. Drafts are kept only in Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	cat     Catalogue
	now     func() time.Time
	archive Archive // nil: Redis only

	mu    sync.Mutex
	cache map[cacheKey]*Compiled
	order []cacheKey // oldest first, for eviction
}

type cacheKey struct {
	name    string
	version int
}

// cacheSize bounds the compiled versions a process keeps: the active one,
// and a few others being simulated or backtested.
const cacheSize = 16

// NewStore returns a store on rdb. prefix starts every key (e.g. "cb:"); rules
// are checked against cat when saved, published and loaded; now stamps
// versions and drafts.
func NewStore(rdb redis.UniversalClient, prefix string, cat Catalogue, now func() time.Time) *Store {
	if now == nil {
		panic("rules.NewStore: now is nil")
	}
	return &Store{rdb: rdb, prefix: prefix, cat: cat, now: now, cache: map[cacheKey]*Compiled{}}
}

// Archive keeps published versions and activations durably outside Redis
// (rulearchive.Archive keeps them in Temporal), so a Redis that lost them can
// be restored with Restore.
type Archive interface {
	// Record keeps version v of the rule set, if v is not nil, and the
	// activation a, if not nil. Recording what is kept already changes nothing.
	Record(ctx context.Context, name string, v *Version, a *Activation) error
	// Latest is the highest version number kept of the rule set, 0 if none.
	Latest(ctx context.Context, name string) (int, error)
}

// UseArchive makes the store record every version and activation in a, and
// number a rule set Redis does not know after the versions a keeps. Call it
// before the store is used.
func (s *Store) UseArchive(a Archive) { s.archive = a }

// MaxComment bounds the reason given for publishing or rolling back, so an
// activation always fits in one small record.
const MaxComment = 1_000

func checkComment(comment string) error {
	if len(comment) > MaxComment {
		return Problems{{Field: "comment", Message: fmt.Sprintf("the comment is longer than %d characters", MaxComment)}}
	}
	return nil
}

// Catalogue is what the store checks rules against.
func (s *Store) Catalogue() Catalogue { return s.cat }

type keys struct{ versions, seq, active, draft, log string }

func (s *Store) keys(name string) keys {
	base := s.prefix + "rules:{" + name + "}:"
	return keys{versions: base + "versions", seq: base + "seq", active: base + "active", draft: base + "draft", log: base + "log"}
}

func (s *Store) namesKey() string { return s.prefix + "rules:names" }

// Channel is the pub/sub channel activations are announced on.
func (s *Store) Channel() string { return s.prefix + "rules:activated" }

type announcement struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return Problems{{Field: "name", Message: fmt.Sprintf("the rule set name '%s' should use lower-case letters, digits, '-' or '_', e.g. routing", name)}}
	}
	return nil
}

// check parses and compiles a text for a rule set, which must name itself.
func (s *Store) check(name string, text []byte, version int) (*Compiled, error) {
	c, err := compileText(text, version, s.cat)
	if err != nil {
		return nil, err
	}
	if c.Name() != name {
		return nil, Problems{c.set.problem(-1, "name", "this text is the rule set '%s', but it is being saved as '%s': write name: %s", c.Name(), name, name)}
	}
	return c, nil
}

// SaveDraft checks a rule set's text and keeps it as the rule set's draft,
// replacing any draft before it. A text with mistakes is refused with
// Problems, so a draft always compiles (against the catalogue of its day).
func (s *Store) SaveDraft(ctx context.Context, name string, text []byte, author string) (Draft, error) {
	if err := checkName(name); err != nil {
		return Draft{}, err
	}
	if _, err := s.check(name, text, 0); err != nil {
		return Draft{}, err
	}
	k := s.keys(name)
	base, err := s.activeNumber(ctx, k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Draft{}, err
	}
	d := Draft{Name: name, Author: author, At: s.now().UTC(), YAML: string(text), Base: base}
	b, _ := json.Marshal(d)
	if err := s.rdb.Set(ctx, k.draft, b, 0).Err(); err != nil {
		return Draft{}, fmt.Errorf("save draft of %s: %w", name, err)
	}
	if err := s.rdb.SAdd(ctx, s.namesKey(), name).Err(); err != nil {
		return Draft{}, fmt.Errorf("save draft of %s: %w", name, err)
	}
	return d, nil
}

// Draft returns the rule set's draft.
func (s *Store) Draft(ctx context.Context, name string) (Draft, error) {
	b, err := s.rdb.Get(ctx, s.keys(name).draft).Bytes()
	if errors.Is(err, redis.Nil) {
		return Draft{}, fmt.Errorf("rule set %s has no draft: %w", name, ErrNotFound)
	}
	if err != nil {
		return Draft{}, fmt.Errorf("read draft of %s: %w", name, err)
	}
	var d Draft
	if err := json.Unmarshal(b, &d); err != nil {
		return Draft{}, fmt.Errorf("read draft of %s: %w", name, err)
	}
	return d, nil
}

// DiscardDraft deletes the rule set's draft, if any.
func (s *Store) DiscardDraft(ctx context.Context, name string) error {
	if err := s.rdb.Del(ctx, s.keys(name).draft).Err(); err != nil {
		return fmt.Errorf("discard draft of %s: %w", name, err)
	}
	return nil
}

// Publish makes the rule set's draft a new version and activates it. The
// draft is checked again, as the catalogue may have changed since it was saved.
func (s *Store) Publish(ctx context.Context, name, author, comment string) (Version, error) {
	if err := checkComment(comment); err != nil {
		return Version{}, err
	}
	k := s.keys(name)
	var v Version
	var a Activation
	err := s.transaction(ctx, func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, k.draft).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("rule set %s has no draft to publish: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var d Draft
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
		v, a, err = s.commit(ctx, tx, name, []byte(d.YAML), ActionPublish, author, comment)
		return err
	}, k.draft, k.seq, k.active)
	if err != nil {
		return Version{}, s.wrap("publish", name, err)
	}
	return v, s.activated(ctx, name, &v, a)
}

// Seed publishes text as the rule set's first version if it has none, as
// `dev` does with the demo rules on first start. It returns the active version
// and whether it seeded it; seeding twice, from two processes at once, is safe.
//
// A rule set the archive keeps versions of is never seeded: restore it instead.
func (s *Store) Seed(ctx context.Context, name string, text []byte, author, comment string) (Version, bool, error) {
	if err := checkComment(comment); err != nil {
		return Version{}, false, err
	}
	k := s.keys(name)
	var v Version
	var a Activation
	seeded := false
	err := s.transaction(ctx, func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, k.seq).Result()
		if err != nil || n > 0 {
			return err
		}
		if kept, err := s.archived(ctx, name); err != nil || kept > 0 {
			if err == nil {
				err = fmt.Errorf("rule set %s has %d versions kept in Temporal that Redis lacks; restore them (casebridge reindex) rather than seed it", name, kept)
			}
			return err
		}
		v, a, err = s.commit(ctx, tx, name, text, ActionSeed, author, comment)
		seeded = err == nil
		return err
	}, k.seq)
	if err != nil {
		return Version{}, false, s.wrap("seed", name, err)
	}
	if !seeded {
		v, err := s.Active(ctx, name)
		return v, false, err
	}
	return v, true, s.activated(ctx, name, &v, a)
}

// archived is the highest version number the archive keeps of a rule set (0
// without an archive).
func (s *Store) archived(ctx context.Context, name string) (int, error) {
	if s.archive == nil {
		return 0, nil
	}
	n, err := s.archive.Latest(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("ask the archive which versions of %s it keeps: %w", name, err)
	}
	return n, nil
}

// commit adds text as the next version and activates it, inside tx. A rule
// set Redis has no number for (new, or lost with Redis) is numbered after the
// versions the archive keeps, so no number is ever given to two texts.
func (s *Store) commit(ctx context.Context, tx *redis.Tx, name string, text []byte, action, author, comment string) (Version, Activation, error) {
	if err := checkName(name); err != nil {
		return Version{}, Activation{}, err
	}
	k := s.keys(name)
	last, err := tx.Get(ctx, k.seq).Int()
	if errors.Is(err, redis.Nil) {
		last, err = s.archived(ctx, name)
	}
	if err != nil {
		return Version{}, Activation{}, err
	}
	c, err := s.check(name, text, last+1)
	if err != nil {
		return Version{}, Activation{}, err
	}
	v := Version{Name: name, Number: last + 1, Author: author, At: s.now().UTC(), Comment: comment, YAML: string(text)}
	a := Activation{Version: v.Number, Action: action, Author: author, At: v.At, Comment: comment}
	vb, _ := json.Marshal(v)
	ab, _ := json.Marshal(a)
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k.seq, v.Number, 0)
		p.HSet(ctx, k.versions, strconv.Itoa(v.Number), vb)
		p.Set(ctx, k.active, v.Number, 0)
		p.RPush(ctx, k.log, ab)
		if action == ActionPublish {
			p.Del(ctx, k.draft)
		}
		return nil
	})
	if err != nil {
		return Version{}, Activation{}, err
	}
	if err := s.rdb.SAdd(ctx, s.namesKey(), name).Err(); err != nil {
		return Version{}, Activation{}, err
	}
	s.remember(c)
	return v, a, nil
}

// Rollback makes an earlier (or any) version of the rule set active again,
// and records who did it and why.
func (s *Store) Rollback(ctx context.Context, name string, number int, author, comment string) (Version, error) {
	if err := checkComment(comment); err != nil {
		return Version{}, err
	}
	k := s.keys(name)
	var v Version
	var a Activation
	err := s.transaction(ctx, func(tx *redis.Tx) error {
		var err error
		if v, err = s.version(ctx, tx, name, number); err != nil {
			return err
		}
		cur, err := tx.Get(ctx, k.active).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if cur == number {
			return fmt.Errorf("version %d is %w", number, ErrAlreadyActive)
		}
		// A version that no longer compiles (a department since removed from
		// the configuration) must not become active.
		if _, err := s.Compiled(ctx, name, number); err != nil {
			return err
		}
		a = Activation{Version: number, Action: ActionRollback, Author: author, At: s.now().UTC(), Comment: comment}
		ab, _ := json.Marshal(a)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, k.active, number, 0)
			p.RPush(ctx, k.log, ab)
			return nil
		})
		return err
	}, k.active)
	if err != nil {
		return Version{}, s.wrap("roll back", name, err)
	}
	return v, s.activated(ctx, name, nil, a)
}

// activated records a version made active in the archive (with its text, if
// v is new) and tells every Watcher. The change is made whatever fails here;
// the error says what did not follow it.
func (s *Store) activated(ctx context.Context, name string, v *Version, a Activation) error {
	var kept error
	if s.archive != nil {
		if err := s.archive.Record(ctx, name, v, &a); err != nil {
			kept = fmt.Errorf("version %d of %s is active, but is not yet kept in Temporal (the worker's next rules sync, or casebridge reindex, records it): %w", a.Version, name, err)
		}
	}
	return errors.Join(kept, s.announce(ctx, name, a.Version))
}

// transaction runs fn with optimistic locking on the watched keys, retrying
// when another process changed them first.
func (s *Store) transaction(ctx context.Context, fn func(*redis.Tx) error, watch ...string) error {
	for range 20 {
		err := s.rdb.Watch(ctx, fn, watch...)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("too many concurrent changes; try again")
}

// wrap says what failed, unless err already does (Problems are read by staff
// as they are; ErrNotFound and ErrAlreadyActive name the set).
func (s *Store) wrap(what, name string, err error) error {
	var ps Problems
	if errors.As(err, &ps) || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%s rule set %s: %w", what, name, err)
}

// announce tells every Watcher which version is now active. If it fails, the
// change is made but others only see it at their next periodic check.
func (s *Store) announce(ctx context.Context, name string, number int) error {
	b, _ := json.Marshal(announcement{Name: name, Version: number})
	if err := s.rdb.Publish(ctx, s.Channel(), b).Err(); err != nil {
		return fmt.Errorf("version %d of %s is active, but other processes were not told and will notice at their next check: %w", number, name, err)
	}
	return nil
}

// Version returns one version of a rule set.
func (s *Store) Version(ctx context.Context, name string, number int) (Version, error) {
	return s.version(ctx, s.rdb, name, number)
}

func (s *Store) version(ctx context.Context, rdb redis.Cmdable, name string, number int) (Version, error) {
	b, err := rdb.HGet(ctx, s.keys(name).versions, strconv.Itoa(number)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Version{}, fmt.Errorf("rule set %s has no version %d: %w", name, number, ErrNotFound)
	}
	if err != nil {
		return Version{}, fmt.Errorf("read version %d of %s: %w", number, name, err)
	}
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return Version{}, fmt.Errorf("read version %d of %s: %w", number, name, err)
	}
	return v, nil
}

// Versions lists every version of a rule set, oldest first.
func (s *Store) Versions(ctx context.Context, name string) ([]Version, error) {
	out, err := decodeEach[Version](s.rdb.HVals(ctx, s.keys(name).versions).Result())
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	slices.SortFunc(out, func(a, b Version) int { return a.Number - b.Number })
	return out, nil
}

// Active returns the active version of a rule set.
func (s *Store) Active(ctx context.Context, name string) (Version, error) {
	n, err := s.activeNumber(ctx, s.keys(name))
	if err != nil {
		return Version{}, fmt.Errorf("rule set %s: %w", name, err)
	}
	return s.Version(ctx, name, n)
}

// ActiveNumber returns the number of the rule set's active version.
func (s *Store) ActiveNumber(ctx context.Context, name string) (int, error) {
	n, err := s.activeNumber(ctx, s.keys(name))
	if err != nil {
		return 0, fmt.Errorf("rule set %s: %w", name, err)
	}
	return n, nil
}

func (s *Store) activeNumber(ctx context.Context, k keys) (int, error) {
	n, err := s.rdb.Get(ctx, k.active).Int()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("no version is active: %w", ErrNotFound)
	}
	return n, err
}

// History lists the rule set's activations, oldest first.
func (s *Store) History(ctx context.Context, name string) ([]Activation, error) {
	out, err := decodeEach[Activation](s.rdb.LRange(ctx, s.keys(name).log, 0, -1).Result())
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", name, err)
	}
	return out, nil
}

// decodeEach decodes the JSON values a Redis read returned.
func decodeEach[T any](raw []string, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(raw))
	for _, b := range raw {
		var v T
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Names lists the rule sets, sorted.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	names, err := s.rdb.SMembers(ctx, s.namesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list rule sets: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// DraftVersion stands for the draft where Diff takes a version number.
const DraftVersion = 0

// Diff compares two versions of a rule set; DraftVersion stands for the draft.
func (s *Store) Diff(ctx context.Context, name string, from, to int) (Diff, error) {
	text := func(n int) (string, string, error) {
		if n == DraftVersion {
			d, err := s.Draft(ctx, name)
			return d.YAML, "draft", err
		}
		v, err := s.Version(ctx, name, n)
		return v.YAML, fmt.Sprintf("version %d", n), err
	}
	a, la, err := text(from)
	if err != nil {
		return Diff{}, err
	}
	b, lb, err := text(to)
	if err != nil {
		return Diff{}, err
	}
	d := DiffYAML([]byte(a), []byte(b), la, lb)
	d.From, d.To = from, to
	return d, nil
}

// Compiled returns a version of a rule set compiled, from a per-process cache:
// versions never change, so one compile serves every decision.
func (s *Store) Compiled(ctx context.Context, name string, number int) (*Compiled, error) {
	key := cacheKey{name, number}
	s.mu.Lock()
	c := s.cache[key]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	v, err := s.Version(ctx, name, number)
	if err != nil {
		return nil, err
	}
	c, err = s.check(name, []byte(v.YAML), number)
	if err != nil {
		return nil, fmt.Errorf("version %d of %s no longer compiles against the configuration: %w", number, name, err)
	}
	s.remember(c)
	return c, nil
}

// ActiveCompiled returns the active version of a rule set, compiled.
func (s *Store) ActiveCompiled(ctx context.Context, name string) (*Compiled, error) {
	n, err := s.ActiveNumber(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Compiled(ctx, name, n)
}

func (s *Store) remember(c *Compiled) {
	key := cacheKey{c.Name(), c.Version()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[key]; ok {
		return
	}
	s.cache[key] = c
	s.order = append(s.order, key)
	if len(s.order) > cacheSize {
		delete(s.cache, s.order[0])
		s.order = s.order[1:]
	}
}

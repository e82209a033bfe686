// Package readmodel keeps the Redis read model of cases: snapshots, the
// sorted-set indexes the console and Open311 queries use, the geo index of open
// cases and the Open311 update feed. It is derived data: Temporal holds the
// truth, and `casebridge reindex` rebuilds it in place with Rebuild, while
// workers go on projecting. Nothing here expires or is deleted: a finished
// case stays visible after Temporal's retention has removed its workflow.
//
// Key layout, with P = prefix + "rm:" (prefix defaults to "cb:"):
//
//	P case:<ref>                  hash: v (version), doc (case JSON), idx (JSON list of the index keys holding ref),
//	                              scope (the department, team and assignee sets holding ref)
//	P scope:gen                   counter, moved on when a case joins or leaves a scope's set (scope.go)
//	P tmp:scope:<hash>:<gen>      zset, a scope's union of those sets at that generation, kept 60 s after its last use
//	P idx:received                zset ref → received µs, every case
//	P idx:updated                 zset ref → updated µs, every case
//	P idx:family:<open|closed>    zset ref → received µs
//	P idx:status:<status>         zset ref → received µs
//	P idx:service:<code>          zset ref → received µs
//	P idx:svcfam:<family>:<code>  zset ref → received µs (Open311 service_code + status in one range read)
//	P idx:dept:<department>       zset ref → received µs
//	P idx:deptfam:<family>:<dept> zset ref → received µs (a department's open or closed cases)
//	P idx:team:<dept>/<team>      zset ref → received µs, a team's cases (scope.go)
//	P idx:closed                  zset ref → closed µs, closed cases with a closing time
//	P idx:escalated               zset ref → received µs, open cases with an escalation fired
//	P idx:deptesc:<department>    zset ref → received µs, the same, of one department
//	P idx:esc:<level>             zset ref → received µs, open cases whose latest escalation is level
//	P idx:word:<hash>             zset ref → received µs, cases found by a word or the start of one;
//	                              hash: HMAC-SHA256 of the word, 12 bytes, base64url (search.go)
//	P idx:source:<source>         zset ref → received µs, by the first report's source
//	P idx:area:<area>             zset ref → received µs, by the areas (wards) of the case's point
//	P idx:assignee:<name>         zset ref → received µs, by assignee (lower case)
//	P idx:bowait:<system>         zset ref → since µs, cases waiting on a back office (wait back_office:<system>)
//	P idx:due                     zset ref → due µs, open cases that have a due time
//	P idx:deptdue:<department>    zset ref → due µs, the same, of one department
//	P sla:clock:<department>      zset ref → due µs, open cases with a due time whose clocks run
//	P sla:soon:<department>       zset ref → µs of the earlier of DueSoonAt and DueAt, the same cases
//	P sla:paused:<department>     zset ref → received µs, open cases whose clocks are paused
//	P sla:depts                   set of departments that have had an open case (never shrinks)
//	P sla:resolved:<outcome>:<g>  zset ref → closed µs, resolved cases of group g, by Promise.Outcome
//	                              (met, missed, or none); g = query-escaped department ":" service code
//	P sla:groups                  set of the groups g that have had a resolved case (never shrinks)
//	P geo:open:<code>             geo set of open cases with a point (intake's duplicate look-up adds a
//	                              new case that duplicates none at once, before its first projection)
//	P dup:seen:<code>             zset ref → received µs of the cases the look-up added
//	P dup:of                      hash ref → the parent the look-up linked it to
//	P dup:answer                  hash ref → the look-up's answer ("-": none), given again to a retry
//	P feed                        zset update member → update µs, every public update
//	P feed:doc                    hash update member → update JSON
//	prefix + "events"             pub/sub channel, one Event per applied projection
//
// Scores are Unix microseconds, exact in a float64; queries re-check exact
// times in Go where a bound falls inside a microsecond. Read-model keys live
// under their own "rm:" namespace, apart from the rule sets and the notice
// outbox, which share the prefix. A read model written before an index was
// added lacks it until `casebridge reindex` runs.
//
// The Lua scripts build key names from stored data, so the store expects one
// Redis (standalone or behind Sentinel), not a Cluster.
package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// DefaultPrefix is the key prefix when New is given none.
const DefaultPrefix = "cb:"

// Store reads and writes the read model in one Redis.
type Store struct {
	areas Areas // nil: cases are filed under no area
	// searchKey keys the names of the word sets (nil: defaultSearchKey).
	searchKey []byte
	rdb       redis.UniversalClient
	ns        string // prefix + "rm:", the read model's own keys
	events    string
}

// New returns a Store keeping its keys under prefix ("" means DefaultPrefix).
func New(rdb redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, ns: prefix + "rm:", events: prefix + "events"}
}

// EventsChannel is the pub/sub channel Project publishes an Event on.
func (s *Store) EventsChannel() string { return s.events }

func (s *Store) caseKey(ref string) string      { return s.ns + "case:" + ref }
func (s *Store) receivedKey() string            { return s.ns + "idx:received" }
func (s *Store) updatedKey() string             { return s.ns + "idx:updated" }
func (s *Store) familyKey(family string) string { return s.ns + "idx:family:" + family }
func (s *Store) statusKey(st cases.Status) string {
	return s.ns + "idx:status:" + string(st)
}
func (s *Store) serviceKey(code string) string { return s.ns + "idx:service:" + code }
func (s *Store) serviceFamilyKey(family, code string) string {
	return s.ns + "idx:svcfam:" + family + ":" + code
}
func (s *Store) departmentKey(dept string) string { return s.ns + "idx:dept:" + dept }
func (s *Store) deptFamilyKey(family, dept string) string {
	return s.ns + "idx:deptfam:" + family + ":" + dept
}
func (s *Store) closedKey() string                   { return s.ns + "idx:closed" }
func (s *Store) escalatedKey() string                { return s.ns + "idx:escalated" }
func (s *Store) dueKey() string                      { return s.ns + "idx:due" }
func (s *Store) departmentDueKey(dept string) string { return s.ns + "idx:deptdue:" + dept }
func (s *Store) geoKey(code string) string           { return s.ns + "geo:open:" + code }
func (s *Store) feedKey() string                     { return s.ns + "feed" }
func (s *Store) feedDocKey() string                  { return s.ns + "feed:doc" }

// departmentOpenUpdatedKey holds a department's open cases by last update:
// a department's Overdue list by last update walks it, reading that
// department's open cases only, not every case's newest end.
// lateKey holds the open cases due at or before the time in sweptKey,
// scored by last update: an Overdue list by last update walks it (sweepLate).
func (s *Store) lateKey() string  { return s.ns + "idx:lateupd" }
func (s *Store) sweptKey() string { return s.ns + "idx:lateupd:swept" }

func (s *Store) departmentOpenUpdatedKey(dept string) string {
	return s.ns + "idx:deptopenupd:" + dept
}

// Ping checks that Redis answers, for /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("read model: ping redis: %w", err)
	}
	return nil
}

// Get returns the stored snapshot of a case; the error wraps cases.ErrNotFound
// when the read model has none.
func (s *Store) Get(ctx context.Context, ref string) (*cases.Case, error) {
	doc, err := s.rdb.HGet(ctx, s.caseKey(ref), "doc").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read model: %s: %w", ref, cases.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read model: get %s: %w", ref, err)
	}
	return decodeCase(ref, doc)
}

// load returns the snapshots of refs in the same order, leaving out any that
// are gone (Redis flushed between reading an index and reading the cases).
func (s *Store) load(ctx context.Context, refs []string) ([]*cases.Case, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(refs))
	for i, ref := range refs {
		cmds[i] = pipe.HGet(ctx, s.caseKey(ref), "doc")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read model: load %d cases: %w", len(refs), err)
	}
	out := make([]*cases.Case, 0, len(refs))
	for i, cmd := range cmds {
		doc, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read model: load %s: %w", refs[i], err)
		}
		c, err := decodeCase(refs[i], doc)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func decodeCase(ref string, doc []byte) (*cases.Case, error) {
	var c cases.Case
	if err := json.Unmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("read model: decode %s: %w", ref, err)
	}
	return &c, nil
}

// CountByStatus counts the cases in each status, every status present (zero
// included) so a gauge drops to zero rather than going stale.
func (s *Store) CountByStatus(ctx context.Context) (map[cases.Status]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(cases.Statuses))
	for i, st := range cases.Statuses {
		cmds[i] = pipe.ZCard(ctx, s.statusKey(st))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read model: count by status: %w", err)
	}
	out := make(map[cases.Status]int64, len(cmds))
	for i, cmd := range cmds {
		out[cases.Statuses[i]] = cmd.Val()
	}
	return out, nil
}

// score is a time as a sorted-set score: Unix microseconds, exact in a float64
// until the year 2255.
func score(t time.Time) float64 { return float64(t.UnixMicro()) }

// minScore and maxScore are inclusive range bounds for a time filter, the zero
// time meaning unbounded. Both floor to the microsecond, so the range never
// misses a match; callers drop the few extra ones by exact time.
func minScore(t time.Time) string {
	if t.IsZero() {
		return "-inf"
	}
	return fmt.Sprint(t.UnixMicro())
}

func maxScore(t time.Time) string {
	if t.IsZero() {
		return "+inf"
	}
	return fmt.Sprint(t.UnixMicro())
}

// within reports whether t is in [start, end], a zero bound meaning none.
func within(t, start, end time.Time) bool {
	return (start.IsZero() || !t.Before(start)) && (end.IsZero() || !t.After(end))
}

// Count is how many cases the read model holds.
func (s *Store) Count(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.receivedKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("read model: count cases: %w", err)
	}
	return n, nil
}

// Absent returns those of refs the read model has no case for.
func (s *Store) Absent(ctx context.Context, refs []string) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(refs))
	for i, ref := range refs {
		cmds[i] = pipe.Exists(ctx, s.caseKey(ref))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read model: look for %d cases: %w", len(refs), err)
	}
	var out []string
	for i, cmd := range cmds {
		if cmd.Val() == 0 {
			out = append(out, refs[i])
		}
	}
	return out, nil
}

package readmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// Event announces an applied projection on EventsChannel, for the live view.
// It carries no personal data.
type Event struct {
	Ref        string       `json:"ref"`
	Version    int64        `json:"version"`
	Status     cases.Status `json:"status"`
	Department string       `json:"department"`
	// Team and Assignee say who else may hear of it (a team's agents, the
	// person it is assigned to); both are staff's, nothing of the reporter.
	Team     string    `json:"team,omitempty"`
	Assignee string    `json:"assignee,omitempty"`
	At       time.Time `json:"at"` // the case's UpdatedAt
}

// projectScript writes a case and all its index entries in one step, only when
// its version is newer than the stored one, or, rebuilding, not older. It is
// one script, not MULTI, because the old index entries to remove are named by
// what is stored. It returns 0 when it changed nothing, 1 when it stored a
// newer version (and announced it), 2 when it rewrote the stored version.
//
// KEYS: case hash, feed, feed docs, scope generation, the overdue cases by
// last update and how far they are swept (lateKey, sweptKey), then the index
// keys the case belongs in: n sorted sets, m registry sets and, if there is
// one more key, its geo set.
// ARGV: ref, version, doc, channel, event, n, m, rebuild ("1" or "0"), the
// scope sets it is in (scopeSets), its due score if it is open with a due
// time (else empty), its last update's score, n scores, m registry members,
// long, lat, then a (member, score, doc) triple per public update.
//
// The overdue index holds every open case due at or before the swept time,
// scored by last update: a case is put in it, moved, or taken out here as it
// changes, and put in by sweepLateScript when its due time is passed.
//
// Registries (the departments and groups the SLA sets exist for) only grow,
// so they stay out of the case's list of index keys that a newer version
// removes it from.
//
// Go validates everything first: a Lua error part-way would leave the writes
// made before it.
var projectScript = redis.NewScript(`
local ref = ARGV[1]
local stored = redis.call('HGET', KEYS[1], 'v')
local newer = not stored or tonumber(stored) < tonumber(ARGV[2])
if not newer and (ARGV[8] ~= '1' or tonumber(stored) > tonumber(ARGV[2])) then return 0 end

local n, m = tonumber(ARGV[6]), tonumber(ARGV[7])
local geo = KEYS[7 + n + m]
local now = {}
for i = 7, 6 + n do now[#now + 1] = KEYS[i] end
if geo then now[#now + 1] = geo end
local keep = {}
for _, k in ipairs(now) do keep[k] = true end
local was = redis.call('HGET', KEYS[1], 'idx')
if was then
  for _, k in ipairs(cjson.decode(was)) do
    if not keep[k] then redis.call('ZREM', k, ref) end
  end
end
for i = 1, n do redis.call('ZADD', KEYS[6 + i], ARGV[11 + i], ref) end
for i = 1, m do redis.call('SADD', KEYS[6 + n + i], ARGV[11 + n + i]) end
local a = 12 + n + m
local swept = redis.call('GET', KEYS[6])
if swept and ARGV[10] ~= '' and tonumber(ARGV[10]) <= tonumber(swept) then
  redis.call('ZADD', KEYS[5], ARGV[11], ref)
else
  redis.call('ZREM', KEYS[5], ref)
end
-- A case that joins or leaves a department, team or assignee's set moves
-- every scope's generation on, so no cached union of them (scopeKey) is
-- read again.
if redis.call('HGET', KEYS[1], 'scope') ~= ARGV[9] then
  redis.call('INCR', KEYS[4])
end
if geo then redis.call('GEOADD', geo, ARGV[a], ARGV[a + 1], ref) end

-- NX: an update keeps the place it was first given, however often it is re-projected.
for u = a + 2, #ARGV, 3 do
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[u + 1], ARGV[u]) == 1 then
    redis.call('HSET', KEYS[3], ARGV[u], ARGV[u + 2])
  end
end

redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3], 'idx', cjson.encode(now), 'scope', ARGV[9])
if not newer then return 2 end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// Project stores c and moves it in every index, atomically, if c.Version is
// newer than the stored version: a late retry of an older projection, or the
// same version again, changes nothing and returns applied=false. An applied
// projection publishes an Event.
//
// Idempotent by (ref, version), so the ProjectCase activity can retry freely.
func (s *Store) Project(ctx context.Context, c *cases.Case) (applied bool, err error) {
	n, err := s.project(ctx, c, false)
	return n == 1, err
}

// Rebuild stores c as Project does, and also when the stored version is the
// same, rewriting the case's index entries: `casebridge reindex` uses it to
// repair a read model in place (an index added since, a key lost) while
// workers go on projecting. A stored newer version is never overwritten, so
// nothing goes backwards; only a newer version is announced.
func (s *Store) Rebuild(ctx context.Context, c *cases.Case) error {
	_, err := s.project(ctx, c, true)
	return err
}

func (s *Store) project(ctx context.Context, c *cases.Case, rebuild bool) (int, error) {
	// Input errors, so a caller can tell them from Redis failures and not retry.
	if c.Ref == "" {
		return 0, fmt.Errorf("read model: project: %w", &cases.InputError{Field: "ref", Reason: "is empty"})
	}
	if !c.Status.Valid() {
		return 0, fmt.Errorf("read model: project %s: %w", c.Ref, &cases.InputError{Field: "status", Reason: fmt.Sprintf("unknown status %q", c.Status)})
	}
	doc, err := json.Marshal(c)
	if err != nil {
		// A value JSON cannot hold (a NaN coordinate, say): no retry helps.
		return 0, fmt.Errorf("read model: project %s: %w", c.Ref, &cases.InputError{Field: "case", Reason: err.Error()})
	}
	event, err := json.Marshal(Event{Ref: c.Ref, Version: c.Version, Status: c.Status, Department: c.Department,
		Team: c.Team, Assignee: c.Assignee, At: c.UpdatedAt})
	if err != nil {
		return 0, fmt.Errorf("read model: project %s: %w", c.Ref, err)
	}

	keys := []string{s.caseKey(c.Ref), s.feedKey(), s.feedDocKey(), s.scopeGenKey(), s.lateKey(), s.sweptKey()}
	var scores []any
	index := func(key string, t time.Time) {
		keys = append(keys, key)
		scores = append(scores, score(t))
	}
	var registries []string
	var registered []any
	register := func(key, member string) {
		registries = append(registries, key)
		registered = append(registered, member)
	}
	family, open := c.Status.Open311(), !c.Status.Closed()
	code := c.Service.Code
	index(s.receivedKey(), c.ReceivedAt)
	index(s.updatedKey(), c.UpdatedAt)
	index(s.familyKey(family), c.ReceivedAt)
	index(s.statusKey(c.Status), c.ReceivedAt)
	if code != "" {
		index(s.serviceKey(code), c.ReceivedAt)
		index(s.serviceFamilyKey(family, code), c.ReceivedAt)
	}
	if c.Department != "" {
		index(s.departmentKey(c.Department), c.ReceivedAt)
		index(s.deptFamilyKey(family, c.Department), c.ReceivedAt)
		if open {
			index(s.departmentOpenUpdatedKey(c.Department), c.UpdatedAt)
		}
		if c.Team != "" {
			index(s.teamKey(c.Department+"/"+c.Team), c.ReceivedAt)
		}
	}
	if c.Status.Closed() && c.ClosedAt != nil {
		index(s.closedKey(), *c.ClosedAt)
	}
	s.indexFinding(c, func(key string, sc float64) {
		keys = append(keys, key)
		scores = append(scores, sc)
	})
	if open && !c.DueAt.IsZero() {
		index(s.dueKey(), c.DueAt)
		if c.Department != "" {
			index(s.departmentDueKey(c.Department), c.DueAt)
		}
	}
	s.indexSLA(c, index, register)
	for _, w := range c.Waits {
		if system, ok := strings.CutPrefix(w.On, cases.WaitBackOffice("")); ok {
			index(s.backOfficeWaitKey(system), w.Since)
		}
	}
	keys = append(keys, registries...)

	args := make([]any, 0, 12+len(scores)+len(registered)+3*len(c.Timeline)*(1+len(c.Duplicates)))
	due := ""
	if open && !c.DueAt.IsZero() {
		due = strconv.FormatFloat(score(c.DueAt), 'f', -1, 64)
	}
	args = append(args, c.Ref, c.Version, doc, s.events, event, len(scores), len(registered), rebuild, s.scopeSets(c),
		due, score(c.UpdatedAt))
	args = append(args, scores...)
	args = append(args, registered...)
	lat, long, ok := point(c.Report().Location)
	if open && code != "" && ok {
		keys = append(keys, s.geoKey(code))
	}
	args = append(args, long, lat)
	// A parent's public updates reach the reporters of its duplicates too.
	for _, u := range append(c.PublicUpdates(), c.DuplicateUpdates()...) {
		b, err := json.Marshal(u)
		if err != nil {
			return 0, fmt.Errorf("read model: project %s: update %s: %w", c.Ref, u.ID, err)
		}
		args = append(args, feedMember(u), score(u.At), b)
	}

	n, err := projectScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("read model: project %s v%d: %w", c.Ref, c.Version, err)
	}
	return n, nil
}

// point returns the location's coordinates if Redis can index them (GEOADD
// refuses latitudes beyond ±85.05°); a case without one is left out of the
// geo index rather than failing its projection.
func point(l cases.Location) (lat, long float64, ok bool) {
	if !l.HasPoint() {
		return 0, 0, false
	}
	lat, long = *l.Lat, *l.Long
	if math.IsNaN(lat) || math.IsNaN(long) || math.Abs(lat) > 85.05112878 || math.Abs(long) > 180 {
		return 0, 0, false
	}
	return lat, long, true
}

// feedMember names an update in the feed so that a case's updates made in the
// same microsecond (one workflow task can append several) keep timeline order:
// the sequence is zero-padded, as "-10" sorts before "-9" as text. An id not of
// the form <ref>-<seq> is used as it is.
func feedMember(u cases.Update) string {
	if rest, ok := strings.CutPrefix(u.ID, u.Ref+"-"); ok {
		if seq, err := strconv.ParseUint(rest, 10, 32); err == nil {
			return fmt.Sprintf("%s-%010d", u.Ref, seq)
		}
	}
	return u.ID
}

// RebuildStored writes every stored case's indexes again from its own
// snapshot, as Rebuild does, reporting each batch done to progress (with the
// total): the indexes added since a case was last projected (search words,
// areas, the dashboard's) are built without asking Temporal, and for cases
// Temporal no longer holds too. A case projected meanwhile keeps its newer
// version. It returns how many cases it rewrote.
func (s *Store) RebuildStored(ctx context.Context, progress func(done, total int)) (int, error) {
	const batch = 500
	total, err := s.rdb.ZCard(ctx, s.receivedKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("read model: rebuild stored: %w", err)
	}
	done := 0
	for from := int64(0); ; from += batch {
		refs, err := s.rdb.ZRange(ctx, s.receivedKey(), from, from+batch-1).Result()
		if err != nil {
			return done, fmt.Errorf("read model: rebuild stored: %w", err)
		}
		if len(refs) == 0 {
			return done, nil
		}
		cs, err := s.load(ctx, refs)
		if err != nil {
			return done, err
		}
		for _, c := range cs {
			if err := s.Rebuild(ctx, c); err != nil {
				return done, err
			}
			done++
		}
		if progress != nil {
			progress(len(refs), int(total))
		}
	}
}

func (s *Store) backOfficeWaitKey(system string) string { return s.ns + "idx:bowait:" + system }

// WaitingOn counts the cases waiting on each of systems (a wait on
// back_office:<system>, as the case last projected records it), in one round
// trip, for casebridge_backoffice_waiting_cases. A system with none counts 0.
func (s *Store) WaitingOn(ctx context.Context, systems []string) (map[string]int64, error) {
	pipe := s.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(systems))
	for i, system := range systems {
		counts[i] = pipe.ZCard(ctx, s.backOfficeWaitKey(system))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read model: waiting on back offices: %w", err)
	}
	out := make(map[string]int64, len(systems))
	for i, system := range systems {
		out[system] = counts[i].Val()
	}
	return out, nil
}

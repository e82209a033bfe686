package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// CountOpenNearby counts the open cases of a service within radiusMetres of a
// point, for routing rules that treat a cluster of reports differently. except
// is never counted: it is the case being routed, which the read model may
// already hold (after a change of category or a transfer back to triage).
func (s *Store) CountOpenNearby(ctx context.Context, serviceCode string, lat, long, radiusMetres float64, except string) (int, error) {
	refs, err := s.OpenNearby(ctx, serviceCode, lat, long, radiusMetres)
	n := len(refs)
	if slices.Contains(refs, except) {
		n--
	}
	return n, err
}

// OpenNearby lists the open cases of a service within radiusMetres of a point,
// nearest first, as duplicate suggestions.
func (s *Store) OpenNearby(ctx context.Context, serviceCode string, lat, long, radiusMetres float64) ([]string, error) {
	if radiusMetres <= 0 {
		return nil, nil
	}
	refs, err := s.rdb.GeoSearch(ctx, s.geoKey(serviceCode), &redis.GeoSearchQuery{
		Longitude: long, Latitude: lat, Radius: radiusMetres, RadiusUnit: "m", Sort: "ASC",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read model: open %s cases near a point: %w", serviceCode, err)
	}
	return refs, nil
}

// findParentScript finds the case a new report duplicates and, if there is
// none, makes the new case one others can find, in one step: reports of one
// problem arriving together all find the first of them, never each other.
//
// KEYS: geo:open:<code>, idx:received, dup:seen:<code>, dup:of, dup:answer.
// ARGV: ref, long, lat, radius (m), received µs, window µs.
var findParentScript = redis.NewScript(`
local ref = ARGV[1]
local ans = redis.call('HGET', KEYS[5], ref)
if ans then
  if ans == '-' then return '' end
  return ans
end
local near = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[3], 'BYRADIUS', ARGV[4], 'm', 'ASC')
local from = tonumber(ARGV[5]) - tonumber(ARGV[6])
local parent = ''
for _, r in ipairs(near) do
  if r ~= ref then
    local t = redis.call('ZSCORE', KEYS[2], r)
    if not t then t = redis.call('ZSCORE', KEYS[3], r) end
    if t and tonumber(t) >= from then
      parent = redis.call('HGET', KEYS[4], r) or r
      break
    end
  end
end
if parent == '' then
  redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ref)
  redis.call('ZADD', KEYS[3], ARGV[5], ref)
  redis.call('HSET', KEYS[5], ref, '-')
else
  redis.call('HSET', KEYS[4], ref, parent)
  redis.call('HSET', KEYS[5], ref, parent)
end
return parent
`)

// FindParent finds the case a new report is likely a duplicate of: the
// nearest open case of the same service within radiusMetres, received no
// more than window before this one, that is not itself a duplicate. When
// there is none, the new case joins the geo index at once (before its first
// projection), so a report of the same problem arriving a moment later finds
// it. Idempotent by ref: the first answer is kept and given again, so a
// retried look-up links a report to the same parent, or to none.
//
// The geo index is the one projections keep and reindex rebuilds; the
// look-up's own keys (dup:…) only bridge the moments before a projection.
func (s *Store) FindParent(ctx context.Context, ref, serviceCode string, lat, long, radiusMetres float64, received time.Time, window time.Duration) (string, error) {
	if radiusMetres <= 0 || serviceCode == "" {
		return "", nil
	}
	if _, _, ok := point(cases.Location{Lat: &lat, Long: &long}); !ok {
		return "", nil
	}
	keys := []string{s.geoKey(serviceCode), s.receivedKey(), s.ns + "dup:seen:" + serviceCode, s.ns + "dup:of", s.ns + "dup:answer"}
	parent, err := findParentScript.Run(ctx, s.rdb, keys, ref, long, lat, radiusMetres, score(received), window.Microseconds()).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read model: find the case %s duplicates: %w", ref, err)
	}
	return parent, nil
}

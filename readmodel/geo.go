package readmodel

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
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

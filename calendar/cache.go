package calendar

import (
	"encoding/json"
	"sync"
)

// Cache shares one Calendar per configuration within a process. A Calendar is
// immutable, so sharing it is safe, and thousands of cases running on the same
// configuration hold one copy of its bank-holiday table instead of one each.
type Cache struct {
	mu   sync.Mutex
	cals map[string]*Calendar
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{cals: map[string]*Calendar{}} }

// Get returns the calendar for c, building it the first time.
func (k *Cache) Get(c Config) (*Calendar, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	key := string(b)
	k.mu.Lock()
	defer k.mu.Unlock()
	if cal, ok := k.cals[key]; ok {
		return cal, nil
	}
	cal, err := New(c)
	if err != nil {
		return nil, err
	}
	k.cals[key] = cal
	return cal, nil
}

package relay

// Counters are this subscriber's totals so far; after Close, its final
// ones (its down-tracks keep their counts). serve logs them when a
// session ends, as Publisher.Counters for a publisher.
func (s *Subscriber) Counters() Counters {
	var c Counters
	s.addCounters(&c)
	return c
}

package relay

// Counters are this publisher's totals so far; after Close, its final
// ones (the tracks keep their counts). serve logs them when a session ends.
func (p *Publisher) Counters() Counters {
	var c Counters
	p.addCounters(&c)
	return c
}

// Counters are this subscriber's totals so far; after Close, its final
// ones.
func (s *Subscriber) Counters() Counters {
	var c Counters
	s.addCounters(&c)
	return c
}

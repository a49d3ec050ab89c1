package broker

// subSet is a session's subscriptions by sid. Most sessions have one or a
// few; a map costs more than the subscription itself (a Go map holding one
// entry is about 190 bytes), so a single subscription is held in one, and
// a map is made only for a second.
type subSet struct {
	one  *subscription            // the only subscription, while there is no map
	many map[uint32]*subscription // all of them, once a second came
}

func (t *subSet) get(sid uint32) *subscription {
	if t.one != nil {
		if t.one.sid == sid {
			return t.one
		}
		return nil
	}
	return t.many[sid]
}

// put adds sub, whose sid is not in the set.
func (t *subSet) put(sub *subscription) {
	switch {
	case t.many != nil:
		t.many[sub.sid] = sub
	case t.one == nil:
		t.one = sub
	default:
		t.many = map[uint32]*subscription{t.one.sid: t.one, sub.sid: sub}
		t.one = nil
	}
}

func (t *subSet) del(sid uint32) {
	if t.one != nil && t.one.sid == sid {
		t.one = nil
		return
	}
	delete(t.many, sid)
}

func (t *subSet) len() int {
	if t.one != nil {
		return 1
	}
	return len(t.many)
}

// all yields every subscription; the one yielded may be deleted meanwhile.
func (t *subSet) all(yield func(*subscription) bool) {
	if t.one != nil {
		yield(t.one)
		return
	}
	for _, sub := range t.many {
		if !yield(sub) {
			return
		}
	}
}

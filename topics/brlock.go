package topics

import "sync"

// brShards is how many read locks a brlock spreads its readers over.
const brShards = 16

// brlock is a reader-writer lock for data that is read on every publish
// and written rarely (a "big reader" lock): readers take one of several
// RWMutexes, chosen by a hint that spreads them (the publishing session),
// and a writer takes all of them. A single RWMutex makes every reader add
// to one shared counter, whose cache line then moves between cores on
// every publish: with publishers on two cores that was 35% of the CPU.
type brlock struct {
	shards [brShards]struct {
		sync.RWMutex
		_ [64 - 24]byte // one cache line each (an RWMutex is 24 bytes)
	}
}

// rlockAt read-locks the shard for hint and returns it for RUnlock.
func (l *brlock) rlockAt(hint uint32) *sync.RWMutex {
	m := &l.shards[hint%brShards].RWMutex
	m.RLock()
	return m
}

// RLock and RUnlock read-lock one shard, for readers with no hint.
func (l *brlock) RLock()   { l.shards[0].RLock() }
func (l *brlock) RUnlock() { l.shards[0].RUnlock() }

// Lock locks every shard, in order (so that writers cannot deadlock each
// other); readers then hold none.
func (l *brlock) Lock() {
	for i := range l.shards {
		l.shards[i].Lock()
	}
}

// Unlock unlocks every shard.
func (l *brlock) Unlock() {
	for i := range l.shards {
		l.shards[i].Unlock()
	}
}

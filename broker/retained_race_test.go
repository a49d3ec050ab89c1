package broker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

// reviewSlowStore widens the window between the publish path's MatchBytes and Set.
type reviewSlowStore struct {
	*broker.MemoryStore
	delay time.Duration
}

func (s reviewSlowStore) Set(m broker.RetainedMessage, done func(error)) error {
	time.Sleep(s.delay)
	return s.MemoryStore.Set(m, done)
}

func TestRetainedPublishDuringSubscribeReachesSubscriber(t *testing.T) {
	b, err := broker.New(broker.Options{Retained: reviewSlowStore{broker.NewMemoryStore(0, 0), 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub, _ := brokertest.NewClient(b, "pub", false)
	sub, _ := brokertest.NewClient(b, "sub", false)
	defer pub.Close()
	defer sub.Close()

	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pub.PublishMsg(&broker.Message{Topic: []byte("cfg.x"), Payload: []byte("v1"), Retain: true}, nil)
	}()
	time.Sleep(10 * time.Millisecond) // publisher has matched (no subscriber yet) and is inside Set
	if _, err := sub.Subscribe("cfg.x", func(m *brokertest.Msg) {
		mu.Lock()
		got = append(got, string(m.Payload))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("subscriber got %v; retained store now holds %d message(s)", got, b.Stats().Retained)
	if len(got) == 0 {
		t.Errorf("subscriber saw neither the live message nor the retained one")
	}
}

func TestRetainedPublishRacingSubscribeIsNeverLost(t *testing.T) {
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	pub, _ := brokertest.NewClient(b, "pub", false)
	sub, _ := brokertest.NewClient(b, "sub", false)
	defer pub.Close()
	defer sub.Close()
	const N = 20000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := range N {
		topic := "t." + string(rune('a'+i%26)) + "." + itoa(i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			pub.PublishMsg(&broker.Message{Topic: []byte(topic), Payload: []byte("v"), Retain: true}, nil)
		}()
		go func() {
			defer wg.Done()
			sub.Subscribe(topic, func(m *brokertest.Msg) { mu.Lock(); seen[m.Topic] = true; mu.Unlock() })
		}()
		wg.Wait()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		lost := N - len(seen)
		mu.Unlock()
		if lost == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscribe/retained-publish races lost the message entirely", lost, N)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

package topics_test

import (
	"fmt"

	"github.com/msgtrans/msgtrans/topics"
)

func ExampleTree() {
	subs := topics.NewTree[string](0)
	subs.Insert("orders.*.created", "", "audit")
	subs.Insert("orders.>", "", "archive")
	subs.Insert("orders.eu.created", "billing", "worker-1")
	subs.Insert("orders.eu.created", "billing", "worker-2")

	r, err := subs.Match("orders.eu.created")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(r.Plain), "plain subscribers")
	for _, q := range r.Queues {
		fmt.Println("queue", q.Name, "members", q.Members)
	}

	_, err = subs.Match("orders.*")
	fmt.Println(err)
	// Output:
	// 2 plain subscribers
	// queue billing members [worker-1 worker-2]
	// topics: wildcard in publish topic: "orders.*"
}

package redisadapter_test

import (
	"encoding/json"
	"slices"
	"testing"

	redisadapter "github.com/heraldio/herald/adapter/redis"
)

// TestRequestsByHand publishes requests as other implementations may send
// them (the SOCKETS and ALL_ROOMS requests, the legacy one-socket forms of
// join, leave and disconnect) and checks the adapter's answers.
func TestRequestsByHand(t *testing.T) {
	rdb := newRedis(t, redisAddr())
	key := uniqueKey(t)
	n := newNode(t, rdb, &redisadapter.Options{Key: key}, nil)
	c := dial(t, n, "/")
	n.io.Of("/").Socket(socketIDOf(c)).Join("room1")
	resp := rdb.Subscribe(ctxT(t), key+"-response#/#")
	t.Cleanup(func() { _ = resp.Close() })
	if _, err := resp.Receive(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	answers := resp.Channel()
	request := func(t *testing.T, req string) map[string]json.RawMessage {
		t.Helper()
		if err := rdb.Publish(ctxT(t), key+"-request#/#", req).Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-answers:
			var out map[string]json.RawMessage
			if err := json.Unmarshal([]byte(m.Payload), &out); err != nil {
				t.Fatalf("answer %q: %v", m.Payload, err)
			}
			return out
		case <-ctxT(t).Done():
			t.Fatalf("no answer to %s", req)
			return nil
		}
	}
	id := c.ID()

	t.Run("sockets", func(t *testing.T) {
		out := request(t, `{"uid":"OTHER1","requestId":"r0","type":0,"rooms":["room1"]}`)
		if string(out["requestId"]) != `"r0"` || string(out["sockets"]) != `["`+id+`"]` {
			t.Fatalf("answer %v", out)
		}
	})
	t.Run("all rooms", func(t *testing.T) {
		out := request(t, `{"uid":"OTHER1","requestId":"r1","type":1}`)
		var rooms []string
		_ = json.Unmarshal(out["rooms"], &rooms)
		if !slices.Contains(rooms, "room1") || !slices.Contains(rooms, id) || len(rooms) != 2 {
			t.Fatalf("rooms %v", rooms)
		}
	})
	t.Run("legacy join and leave", func(t *testing.T) {
		out := request(t, `{"uid":"OTHER1","requestId":"r2","type":2,"sid":"`+id+`","room":"lj"}`)
		if string(out["requestId"]) != `"r2"` {
			t.Fatalf("answer %v", out)
		}
		if err := n.io.To("lj").Emit("in-lj"); err != nil {
			t.Fatal(err)
		}
		c.expect(t, "in-lj", `[]`)
		request(t, `{"uid":"OTHER1","requestId":"r3","type":3,"sid":"`+id+`","room":"lj"}`)
		if rooms := n.io.Of("/").Adapter().SocketRooms(socketIDOf(c)); slices.Contains(rooms, "lj") {
			t.Fatalf("still in lj: %v", rooms)
		}
	})
	t.Run("legacy disconnect", func(t *testing.T) {
		gone := make(chan string, 1)
		c.OnDisconnect(func(reason string) { gone <- reason })
		out := request(t, `{"uid":"OTHER1","requestId":"r4","type":4,"sid":"`+id+`","close":false}`)
		if string(out["requestId"]) != `"r4"` {
			t.Fatalf("answer %v", out)
		}
		select {
		case r := <-gone:
			if r != "io server disconnect" {
				t.Fatalf("reason %q", r)
			}
		case <-ctxT(t).Done():
			t.Fatal("not disconnected")
		}
	})
}

package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/socketio"
)

// postsEvent is one "posts" event as a client received it, with what the
// store held at that moment.
type postsEvent struct {
	raw       string         // the argument's JSON
	action    string         //
	id        string         // the post's id
	post      map[string]any // for create and update
	committed bool           // the store already showed the change when the event arrived
}

// listen connects a Socket.IO client (Engine.IO protocol 4 or 3) to e and
// returns the channel of its "posts" events.
func (e *env) listen(protocol int) <-chan postsEvent {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock, err := client.Dial(ctx, e.url+"/", &client.DialOptions{Manager: client.ManagerOptions{
		Engine: client.EngineOptions{Protocol: protocol}, DisableReconnection: true}})
	if err != nil {
		t.Fatalf("socket.io dial (EIO %d): %v", protocol, err)
	}
	t.Cleanup(func() { sock.Manager().Close() })
	ch := make(chan postsEvent, 10000)
	sock.On("posts", func(args socketio.Args, _ socketio.Ack) {
		ev := postsEvent{raw: string(args.Raw(0))}
		var v struct {
			Action string          `json:"action"`
			Post   json.RawMessage `json:"post"`
		}
		if err := json.Unmarshal(args.Raw(0), &v); err != nil {
			t.Errorf("posts event %s: %v", ev.raw, err)
			return
		}
		ev.action = v.Action
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if v.Action == feed.ActionDelete {
			json.Unmarshal(v.Post, &ev.id)
			_, err := e.srv.Store().Post(ctx, ev.id)
			ev.committed = errors.Is(err, feed.ErrNotFound)
		} else {
			json.Unmarshal(v.Post, &ev.post)
			ev.id = jsonStr(ev.post["_id"])
			p, err := e.srv.Store().Post(ctx, ev.id)
			ev.committed = err == nil && p.Title == ev.post["title"] && feed.FormatTime(p.UpdatedAt) == ev.post["updatedAt"]
		}
		ch <- ev
	})
	return ch
}

func next(t *testing.T, ch <-chan postsEvent) postsEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no posts event within 10s")
		return postsEvent{}
	}
}

func TestEvents(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("live@example.com", "Live")
		other, _ := e.signup("peer@example.com", "Peer")
		clients := map[string]<-chan postsEvent{"EIO4": e.listen(4), "EIO3": e.listen(3)}

		created := e.createPost(token, "Live post")
		id := jsonStr(created["_id"])
		for name, ch := range clients {
			ev := next(t, ch)
			if ev.action != "create" || jsonString(ev.post) != jsonString(created) || !ev.committed {
				t.Errorf("%s: create event %s (committed %v), want the created post %s", name, ev.raw, ev.committed, jsonString(created))
			}
		}

		r := e.do("PUT", "/feed/post/"+id, token, newForm("title", "Live post edited", "content", "Edited content", "image", "undefined").done())
		expect(t, r, 200, "Post updated!")
		updated := r.json["post"].(map[string]any)
		for name, ch := range clients {
			ev := next(t, ch)
			if ev.action != "update" || jsonString(ev.post) != jsonString(updated) || !ev.committed {
				t.Errorf("%s: update event %s (committed %v), want %s", name, ev.raw, ev.committed, jsonString(updated))
			}
		}

		// Refused writes emit nothing.
		expect(t, e.do("DELETE", "/feed/post/"+id, other, nil), 403, "Not authorized!")
		expect(t, e.do("PUT", "/feed/post/"+id, other, newForm("title", "Not mine", "content", "Not mine", "image", "undefined").done()), 403, "Not authorized!")
		expect(t, e.do("POST", "/feed/post", token, newForm("title", "x", "content", "y").done()), 422, "Validation failed, entered data is incorrect.")
		expect(t, e.do("PATCH", "/auth/status", token, map[string]string{"status": "Watching"}), 200, "User updated.")

		expect(t, e.do("DELETE", "/feed/post/"+id, token, nil), 200, "Deleted post.")
		for name, ch := range clients {
			ev := next(t, ch)
			if ev.raw != `{"action":"delete","post":"`+id+`"}` || !ev.committed {
				t.Errorf("%s: delete event %s (committed %v)", name, ev.raw, ev.committed)
			}
		}

		// A last change: its event must come next, so nothing came in between.
		sentinel := e.createPost(other, "Sentinel post")
		for name, ch := range clients {
			if ev := next(t, ch); ev.action != "create" || ev.id != sentinel["_id"] {
				t.Errorf("%s: after the delete event, got %s; want only the sentinel's create", name, ev.raw)
			}
			select {
			case ev := <-ch:
				t.Errorf("%s: extra event %s", name, ev.raw)
			default:
			}
		}
	})
}

// TestConcurrentUsers has 20 users create, edit and delete posts at once
// (and try to change each other's): no post is lost or duplicated, the total
// is exact, and exactly one event arrives per successful change.
func TestConcurrentUsers(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		const users, ops = 20, 10
		tokens := make([]string, users)
		for i := range tokens {
			tokens[i], _ = e.signup(fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i))
		}
		events := e.listen(4)

		var mu sync.Mutex
		live := map[string]bool{}  // posts that should remain
		latest := map[int]string{} // each user's latest post, for others to try
		var creates, updates, deletes int
		var wg sync.WaitGroup
		for u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []string
				for j := range ops {
					r := e.do("POST", "/feed/post", tokens[u], newForm("title", fmt.Sprintf("Post %d-%d", u, j), "content", "Concurrent content").
						file("image", "a.png", pngImage).done())
					if r.status != 201 {
						t.Errorf("create: %d %s", r.status, r.body)
						return
					}
					id := jsonStr(r.json["post"].(map[string]any)["_id"])
					mine = append(mine, id)
					mu.Lock()
					creates++
					live[id] = true
					latest[u] = id
					victim := latest[(u+1)%users]
					mu.Unlock()

					if j%2 == 1 {
						r := e.do("PUT", "/feed/post/"+mine[0], tokens[u], newForm("title", fmt.Sprintf("Edited %d-%d", u, j), "content", "Edited content", "image", "undefined").done())
						if r.status != 200 {
							t.Errorf("update: %d %s", r.status, r.body)
							return
						}
						mu.Lock()
						updates++
						mu.Unlock()
					}
					if j%3 == 2 {
						gone := mine[len(mine)-1]
						mine = mine[:len(mine)-1]
						if r := e.do("DELETE", "/feed/post/"+gone, tokens[u], nil); r.status != 200 {
							t.Errorf("delete: %d %s", r.status, r.body)
							return
						}
						mu.Lock()
						deletes++
						delete(live, gone)
						mu.Unlock()
					}
					if victim != "" { // someone else's post: refused, whether it still exists or not
						if r := e.do("DELETE", "/feed/post/"+victim, tokens[u], nil); r.status != 403 && r.status != 404 {
							t.Errorf("deleting another's post: %d %s", r.status, r.body)
						}
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if creates != users*ops {
			t.Fatalf("creates = %d", creates)
		}

		// Every live post listed exactly once, and totalItems exact.
		seen := map[string]int{}
		for page := 1; ; page++ {
			r := e.do("GET", fmt.Sprintf("/feed/posts?page=%d&perPage=100", page), tokens[0], nil)
			if r.json["totalItems"] != float64(len(live)) {
				t.Errorf("totalItems = %v, want %d", r.json["totalItems"], len(live))
			}
			posts := r.json["posts"].([]any)
			for _, p := range posts {
				seen[jsonStr(p.(map[string]any)["_id"])]++
			}
			if len(posts) < 100 {
				break
			}
		}
		if len(seen) != len(live) {
			t.Errorf("listed %d posts, want %d", len(seen), len(live))
		}
		for id, n := range seen {
			if n != 1 || !live[id] {
				t.Errorf("post %s listed %d times (live %v)", id, n, live[id])
			}
		}
		if files := e.imageFiles(); len(files) != len(live) {
			t.Errorf("%d image files for %d posts", len(files), len(live))
		}

		// Exactly one event per change: count them, then a sentinel change
		// must be the very next event.
		got := map[string]int{}
		createdIDs := map[string]bool{}
		deletedIDs := map[string]bool{}
		for range creates + updates + deletes {
			ev := next(t, events)
			got[ev.action]++
			switch ev.action {
			case "create":
				if createdIDs[ev.id] {
					t.Errorf("two create events for %s", ev.id)
				}
				createdIDs[ev.id] = true
			case "delete":
				if deletedIDs[ev.id] || live[ev.id] {
					t.Errorf("unexpected delete event for %s", ev.id)
				}
				deletedIDs[ev.id] = true
			}
		}
		if got["create"] != creates || got["update"] != updates || got["delete"] != deletes {
			t.Errorf("events %v; want create %d, update %d, delete %d", got, creates, updates, deletes)
		}
		sentinel := e.createPost(tokens[0], "Sentinel post")
		if ev := next(t, events); ev.id != sentinel["_id"] {
			t.Errorf("after the counted events, got %s; want the sentinel", ev.raw)
		}
	})
}

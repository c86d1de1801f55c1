package feed_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
)

func TestNewID(t *testing.T) {
	before := time.Now().Unix()
	id := feed.NewID()
	after := time.Now().Unix()
	if !feed.ValidID(id) {
		t.Fatalf("NewID() = %q, not 24 lower-case hex digits", id)
	}
	b, _ := hex.DecodeString(id)
	secs := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	if secs < before || secs > after {
		t.Errorf("id seconds %d outside [%d, %d]", secs, before, after)
	}
	if feed.NewID() == id {
		t.Error("two ids are equal")
	}
	for _, bad := range []string{"", "abc", "6B07790B42782DE8A13FD669", "6b07790b42782de8a13fd66", "6b07790b42782de8a13fd669a", "6b07790b42782de8a13fd66g", "../../../../etc/passwd.."} {
		if feed.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestValidEmail(t *testing.T) {
	for s, want := range map[string]bool{
		"ada@example.com": true, "Ada.Lovelace+tag@mail.example.co.uk": true, "a@b.io": true,
		"": false, "ada": false, "ada@": false, "@example.com": false, "ada@example": false, "ada@example.c": false,
		"ada@@example.com": false, "a da@example.com": false, "ada@exa mple.com": false, ".ada@example.com": false,
		"ada.@example.com": false, "a..da@example.com": false, "ada@-example.com": false, "ada@example.123": false,
		"<ada@example.com>": false, "Ada <ada@example.com>": false,
	} {
		if got := feed.ValidEmail(s); got != want {
			t.Errorf("ValidEmail(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPostJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 17, 3, 21, 123456789, time.FixedZone("CET", 3600))
	p := feed.Post{ID: "6b07790f63a677d3352efe6e", Title: "T", Content: "C", ImageURL: "images/x.png",
		Creator: feed.Creator{ID: "6b07790b42782de8a13fd669", Name: "Ada"}, CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_id":"6b07790f63a677d3352efe6e","title":"T","content":"C","imageUrl":"images/x.png",` +
		`"creator":{"_id":"6b07790b42782de8a13fd669","name":"Ada"},"createdAt":"2026-11-25T16:03:21.123Z","updatedAt":"2026-11-25T16:03:22.123Z"}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant %s", b, want)
	}
	var back feed.Post
	if err := json.Unmarshal(b, &back); err != nil || !back.CreatedAt.Equal(at.Truncate(time.Millisecond)) || back.Creator != p.Creator {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestErrorHelpers(t *testing.T) {
	e := fmt.Errorf("wrapped: %w", &feed.Error{Code: feed.ENotFound, Message: "Could not find post."})
	if feed.ErrorCode(e) != feed.ENotFound || feed.ErrorMessage(e) != "Could not find post." {
		t.Errorf("ErrorCode/Message of a wrapped *Error = %v, %q", feed.ErrorCode(e), feed.ErrorMessage(e))
	}
	internal := errors.New("disk on fire")
	if feed.ErrorCode(internal) != feed.EInternal || feed.ErrorMessage(internal) == internal.Error() {
		t.Errorf("an unknown error must be internal and its text hidden: %v %q", feed.ErrorCode(internal), feed.ErrorMessage(internal))
	}
	if feed.ErrorCode(fmt.Errorf("x: %w", feed.ErrUnavailable)) != feed.EUnavailable || feed.ErrorCode(nil) != "" {
		t.Error("ErrUnavailable or nil misclassified")
	}
}

func ExampleEvent_Payload() {
	at := time.Date(2026, 11, 25, 17, 3, 21, 123e6, time.UTC)
	p := &feed.Post{ID: "6b07790f63a677d3352efe6e", Title: "Hello", Content: "World", ImageURL: "images/0123456789abcdef0123456789abcdef.png",
		Creator: feed.Creator{ID: "6b07790b42782de8a13fd669", Name: "Ada"}, CreatedAt: at, UpdatedAt: at}
	for _, action := range []string{feed.ActionCreate, feed.ActionDelete} {
		b, _ := json.Marshal(feed.Event{Action: action, Post: p}.Payload())
		fmt.Println(string(b))
	}
	// Output:
	// {"action":"create","post":{"_id":"6b07790f63a677d3352efe6e","title":"Hello","content":"World","imageUrl":"images/0123456789abcdef0123456789abcdef.png","creator":{"_id":"6b07790b42782de8a13fd669","name":"Ada"},"createdAt":"2026-11-25T17:03:21.123Z","updatedAt":"2026-11-25T17:03:21.123Z"}}
	// {"action":"delete","post":"6b07790f63a677d3352efe6e"}
}

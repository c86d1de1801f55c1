package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/socketio"
)

// printer is a Transport that prints each message's wire form, uid hidden.
type printer struct{}

func (printer) Publish(_ context.Context, m *cluster.Message) error {
	c := *m
	c.UID = "…"
	fmt.Println(string(c.AppendJSON(nil)))
	return nil
}

func (p printer) PublishResponse(ctx context.Context, _ string, m *cluster.Message) error {
	return p.Publish(ctx, m)
}

// A cluster adapter over a transport: what a broadcast looks like on the
// wire of @socket.io/postgres-adapter or the sharded Redis adapter.
func Example() {
	var ad *cluster.Adapter
	srv := socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
		ad = cluster.New(nsp, printer{}, nil)
		return ad
	}})
	ad.Init() // the transport receives: announce this server
	_ = srv.To("room1").Emit("hello", "world")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Close(ctx) // publishes what is queued, then ADAPTER_CLOSE
	// Output:
	// {"type":1,"uid":"…","nsp":"/"}
	// {"type":3,"data":{"packet":{"type":2,"data":["hello","world"]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"…","nsp":"/"}
	// {"type":13,"uid":"…","nsp":"/"}
}

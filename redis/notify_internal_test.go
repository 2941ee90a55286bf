package redis

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeChange feeds arbitrary notices to the decoder: anyone who can
// publish on the channel reaches it. It must never panic, and what it
// accepts must survive a round trip.
func FuzzDecodeChange(f *testing.F) {
	f.Add(`{"kind":"server","accountId":"acc_1","id":"srv_1","version":3}`)
	f.Add(`{"kind":"resync"}`)
	f.Add(`{"kind":""}`)
	f.Add(`{"kind":"key","version":-1,"extra":[1,{"a":null}]}`)
	f.Add(`null`)
	f.Add(`[`)
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, payload string) {
		ch, err := decodeChange(payload)
		if err != nil {
			return
		}
		if ch.Kind == "" || ch.Kind == KindResync {
			t.Fatalf("accepted kind %q", ch.Kind)
		}
		b, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeChange(string(b))
		if err != nil || again != ch {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", ch, b, again, err)
		}
	})
}

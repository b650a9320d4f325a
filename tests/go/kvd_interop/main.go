// End-to-end check of kvd with the Go NATS client (nats.go, Debian's
// golang-github-nats-io-go-nats-dev) as an independent "any language"
// client: every op of the API table with JSON bodies (encoding/json), error
// replies (the Nats-Service-Error headers and the JSON body agree), and
// discovery of the "kv" service through $SRV.PING/INFO/STATS, with subjects,
// header names and the PING shape from nats.go's micro package. Expects a
// fresh standalone kvd (link "default").
//
// Usage: kvd_interop <nats-url> <op,op,...>   (the ops of kv/codec/ops.h)
// Exit status: 0 all checks passed, 1 a check failed, 2 usage.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

const timeout = 10 * time.Second

var (
	nc     *nats.Conn
	checks int
	// The ops this program sent a request to.
	covered = map[string]bool{}
)

// fail stops the program with a message.
func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go kvd interop FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func check(cond bool, format string, args ...interface{}) {
	if !cond {
		fail("check failed: "+format, args...)
	}
	checks++
}

// same compares the JSON encodings of got and want.
func same(got, want interface{}, what string) {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	check(string(g) == string(w), "%s: got %s, want %s", what, g, w)
}

// raw sends kv.default.<op> with body (a string as is, else JSON-encoded).
func raw(op string, body interface{}) *nats.Msg {
	covered[op] = true
	data, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			fail("encode %v: %v", body, err)
		}
		data = string(b)
	}
	m, err := nc.Request("kv.default."+op, []byte(data), timeout)
	if err != nil {
		fail("%s %s: %v", op, data, err)
	}
	return m
}

type obj = map[string]interface{}

// kv sends a request that must succeed and returns the decoded reply.
func kv(op string, body interface{}) obj {
	m := raw(op, body)
	check(m.Header.Get(micro.ErrorCodeHeader) == "", "%s %v succeeded (got %s)", op, body, m.Data)
	var out obj
	if err := json.Unmarshal(m.Data, &out); err != nil {
		fail("%s: reply %q is not a JSON object: %v", op, m.Data, err)
	}
	// Key-level replies carry the key's revision: checked here, then left out
	// of the comparisons.
	if rev, ok := out["revision"]; ok {
		n, isNum := rev.(float64)
		check(isNum && n >= 0, "%s: revision %v is not a number", op, rev)
		delete(out, "revision")
	}
	return out
}

// expectError sends a request that must fail with code; returns the message.
func expectError(op string, body interface{}, code int) string {
	m := raw(op, body)
	header := m.Header.Get(micro.ErrorCodeHeader)
	check(header == fmt.Sprint(code), "%s %v: error code header %q, want %d", op, body, header, code)
	message := m.Header.Get(micro.ErrorHeader)
	check(message != "", "%s: error message header", op)
	var reply struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	check(json.Unmarshal(m.Data, &reply) == nil, "%s: error body %q is JSON", op, m.Data)
	check(reply.Error.Code == code && reply.Error.Message == message,
		"%s: error body %s agrees with the headers (%d %q)", op, m.Data, code, message)
	return message
}

// request sends an empty request to a monitoring subject and decodes the
// reply into out.
func request(subject string, out interface{}) {
	m, err := nc.Request(subject, nil, timeout)
	if err != nil {
		fail("%s: %v", subject, err)
	}
	if err := json.Unmarshal(m.Data, out); err != nil {
		fail("%s: %q: %v", subject, m.Data, err)
	}
}

func controlSubject(verb micro.Verb, name, id string) string {
	s, err := micro.ControlSubject(verb, name, id)
	if err != nil {
		fail("control subject: %v", err)
	}
	return s
}

func main() {
	if len(os.Args) != 3 || os.Args[2] == "" {
		fmt.Fprintln(os.Stderr, "usage: kvd_interop <nats-url> <op,op,...>")
		os.Exit(2)
	}
	ops := strings.Split(os.Args[2], ",")
	var err error
	nc, err = nats.Connect(os.Args[1], nats.Name("go-interop"))
	if err != nil {
		fail("connect %s: %v", os.Args[1], err)
	}
	defer nc.Close()

	// Registers: strings with unicode, quotes, newlines and NUL.
	same(kv("get", obj{"key": "greeting"}), obj{"exists": false, "value": ""}, "get absent")
	value := "héllo \"wörld\"\n✓ 🎉 \x00 end"
	same(kv("set", obj{"key": "greeting", "value": value}), obj{"ok": true}, "set")
	same(kv("get", obj{"key": "greeting"}), obj{"exists": true, "value": value}, "get byte-exact")
	same(kv("set", obj{"key": "ttl", "value": "x", "expires": 3600}), obj{"ok": true}, "set with expires")
	same(kv("exists", obj{"key": "ttl"}), obj{"exists": true}, "exists")

	// Counters.
	same(kv("add", obj{"key": "hits", "value": 5}), obj{"value": 5}, "add from 0")
	same(kv("add", obj{"key": "hits", "value": -7}), obj{"value": -2}, "add negative")
	same(kv("get", obj{"key": "hits"}), obj{"exists": true, "value": "-2"}, "counter as string")

	// Lists.
	for i, v := range []string{"a", "b", "a", "c"} {
		same(kv("push", obj{"key": "list", "value": v}), obj{"length": i + 1}, "push "+v)
	}
	same(kv("range", obj{"key": "list", "start": 0, "stop": -1}),
		obj{"values": []string{"a", "b", "a", "c"}}, "range 0 -1")
	same(kv("range", obj{"key": "list", "start": -2, "stop": -1}),
		obj{"values": []string{"a", "c"}}, "range negative")
	same(kv("list_del", obj{"key": "list", "value": "a"}), obj{"length": 2}, "list_del every equal item")
	same(kv("range", obj{"key": "list", "start": 0, "stop": -1}),
		obj{"values": []string{"b", "c"}}, "range after list_del")
	same(kv("clear", obj{"key": "list"}), obj{"deleted": true}, "clear")
	same(kv("exists", obj{"key": "list"}), obj{"exists": false}, "an empty list does not exist")

	// Sets.
	for _, v := range []string{"pear", "apple", "fig", "apple"} {
		kv("set_add", obj{"key": "fruit", "value": v})
	}
	for _, v := range []string{"fig", "kiwi"} {
		kv("set_add", obj{"key": "green", "value": v})
	}
	same(kv("set_query", obj{"key": "fruit"}), obj{"values": []string{"apple", "fig", "pear"}}, "set_query sorted")
	same(kv("set_union", obj{"keys": []string{"fruit", "green"}}),
		obj{"values": []string{"apple", "fig", "kiwi", "pear"}}, "set_union")
	same(kv("set_intersection", obj{"keys": []string{"fruit", "green"}}),
		obj{"values": []string{"fig"}}, "set_intersection")
	same(kv("set_remove", obj{"key": "fruit", "value": "pear"}), obj{"size": 2}, "set_remove")

	// Keys, paged with the cursor.
	var all []string
	body := obj{"limit": 2}
	for page := 0; page < 10; page++ {
		r := kv("keys", body)
		keys, _ := r["keys"].([]interface{})
		check(len(keys) <= 2, "page within limit")
		for _, k := range keys {
			all = append(all, k.(string))
		}
		cursor, more := r["cursor"]
		if !more {
			break
		}
		body = obj{"limit": 2, "cursor": cursor}
	}
	same(all, []string{"fruit", "green", "greeting", "hits", "ttl"}, "keys paged in order")
	same(kv("keys", obj{"prefix": "gr"}), obj{"keys": []string{"green", "greeting"}}, "keys by prefix")

	// del.
	same(kv("del", obj{"key": "greeting"}), obj{"deleted": true}, "del")
	same(kv("del", obj{"key": "greeting"}), obj{"deleted": false}, "del again")

	// Errors: code headers and body agree; bad input changes nothing.
	msg := expectError("add", obj{"key": "hits", "value": "five"}, 400)
	check(strings.Contains(msg, "'value'"), "the message names the field: %q", msg)
	expectError("get", "not json", 400)
	expectError("get", obj{"key": "hits", "extra": 1}, 400)
	expectError("push", obj{"key": "hits", "value": "x"}, 409)
	expectError("nope", "{}", 404)
	delete(covered, "nope")
	same(kv("get", obj{"key": "hits"}), obj{"exists": true, "value": "-2"}, "errors changed nothing")

	// Batches and base64 values.
	same(kv("mset", obj{"entries": []obj{{"key": "b1", "value": "x"},
		{"key": "b2", "value": "y", "expires": 60}, {"key": "b1", "value": "z"}}}),
		obj{"ok": true, "count": 2}, "mset: the last entry of a key wins")
	same(kv("mget", obj{"keys": []string{"b1", "nope", "fruit", "b2"}}),
		obj{"entries": []obj{{"exists": true, "key": "b1", "value": "z"},
			{"exists": false, "key": "nope"}, {"exists": true, "key": "fruit", "type": "set"},
			{"exists": true, "key": "b2", "value": "y"}}}, "mget in request order")
	bytes := []byte{0, 255, 128, 10}
	b64 := base64.StdEncoding.EncodeToString(bytes)
	same(kv("set", obj{"key": "bin", "value": b64, "encoding": "base64"}), obj{"ok": true},
		"set of a binary value in base64")
	same(kv("get", obj{"key": "bin", "encoding": "base64"}), obj{"exists": true, "value": b64},
		"the same bytes back in base64")
	expectError("get", obj{"key": "bin"}, 422)
	expectError("set", obj{"key": "bin", "value": "no!", "encoding": "base64"}, 400)
	same(kv("mdel", obj{"keys": []string{"b1", "b2", "bin", "b1"}}), obj{"deleted": 3},
		"mdel counts each key once")

	// TTL control.
	same(kv("set_add", obj{"key": "tl", "value": "x", "expires": 60}), obj{"size": 1},
		"set_add with expires")
	same(kv("persist", obj{"key": "tl"}), obj{"updated": true}, "persist")
	same(kv("ttl", obj{"key": "tl"}), obj{"exists": true, "ttl": -1}, "no TTL after persist")
	same(kv("expire", obj{"key": "nope", "expires": 5}), obj{"updated": false},
		"expire of a missing key")
	expectError("expire", obj{"key": "tl"}, 400)

	// Conditional writes: 412 carries the key's revision; pop takes one item.
	same(kv("set", obj{"key": "lock", "value": "me", "if": "absent", "expires": 30}),
		obj{"ok": true}, "set if absent")
	expectError("set", obj{"key": "lock", "value": "you", "if": "absent"}, 412)
	var refused struct {
		Error struct {
			Revision json.Number `json:"revision"`
		} `json:"error"`
	}
	m := raw("del", obj{"key": "lock", "revision": 1})
	check(json.Unmarshal(m.Data, &refused) == nil && refused.Error.Revision != "" &&
		refused.Error.Revision != "0", "412 body %s carries the revision", m.Data)
	same(kv("del", obj{"key": "lock", "revision": refused.Error.Revision}),
		obj{"deleted": true}, "del with the current revision")
	for _, v := range []string{"x", "y"} {
		kv("push", obj{"key": "q", "value": v})
	}
	same(kv("pop", obj{"key": "q"}), obj{"exists": true, "value": "x"}, "pop left")
	same(kv("pop", obj{"key": "q", "end": "right"}), obj{"exists": true, "value": "y"},
		"pop right")
	same(kv("pop", obj{"key": "q"}), obj{"exists": false, "value": ""}, "pop of no list")

	// watch: a page of keys as notifications state them, with the position.
	kv("set", obj{"key": "w.a", "value": "1"})
	var page struct {
		Entries []struct {
			Key   string `json:"key"`
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"entries"`
		Position string `json:"position"`
	}
	m = raw("watch", obj{"prefix": "w."})
	check(json.Unmarshal(m.Data, &page) == nil && len(page.Entries) == 1 &&
		page.Entries[0].Key == "w.a" && page.Entries[0].Value == "1" && page.Position != "",
		"watch page %s", m.Data)

	// Every op of the API table was exercised, and no other.
	var done []string
	for op := range covered {
		done = append(done, op)
	}
	sort.Strings(done)
	sort.Strings(ops)
	check(reflect.DeepEqual(done, ops), "ops exercised %v, API table %v", done, ops)

	// Discovery: PING (nats.go's micro.Ping), then INFO and STATS of that id.
	sub, err := nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		fail("subscribe: %v", err)
	}
	if err := nc.PublishRequest(controlSubject(micro.PingVerb, "kv", ""), sub.Subject, nil); err != nil {
		fail("ping: %v", err)
	}
	var pings []micro.Ping
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		var p micro.Ping
		check(json.Unmarshal(m.Data, &p) == nil, "PING reply %q decodes", m.Data)
		pings = append(pings, p)
	}
	check(len(pings) == 1 && pings[0].Name == "kv" && pings[0].ID != "",
		"one kv instance answers PING: %+v", pings)
	id := pings[0].ID

	var info struct {
		micro.ServiceIdentity
		Type      string            `json:"type"`
		Metadata  map[string]string `json:"metadata"`
		Endpoints []struct {
			Name       string `json:"name"`
			Subject    string `json:"subject"`
			QueueGroup string `json:"queue_group"`
		} `json:"endpoints"`
	}
	request(controlSubject(micro.InfoVerb, "kv", id), &info)
	check(info.Type == "io.nats.micro.v1.info_response", "INFO type %q", info.Type)
	check(info.ID == id && info.Metadata["replication"] == "off", "INFO of a standalone node: %+v", info)
	var subjects, want []string
	for _, e := range info.Endpoints {
		subjects = append(subjects, e.Subject)
		check(e.QueueGroup == micro.QG, "endpoint %s in queue group %q", e.Name, micro.QG)
	}
	for _, op := range ops {
		want = append(want, "kv.default."+op)
	}
	sort.Strings(subjects)
	sort.Strings(want)
	check(reflect.DeepEqual(subjects, want), "one endpoint per op: %v", subjects)

	var stats struct {
		micro.ServiceIdentity
		Type      string `json:"type"`
		Endpoints []struct {
			Name        string `json:"name"`
			NumRequests int    `json:"num_requests"`
			NumErrors   int    `json:"num_errors"`
			Data        struct {
				Link  string `json:"link"`
				Ready bool   `json:"ready"`
			} `json:"data"`
		} `json:"endpoints"`
	}
	request(controlSubject(micro.StatsVerb, "kv", id), &stats)
	check(stats.Type == "io.nats.micro.v1.stats_response", "STATS type %q", stats.Type)
	for _, e := range stats.Endpoints {
		switch e.Name {
		case "default_push":
			check(e.NumRequests == 7 && e.NumErrors == 1, "push: 7 requests, 1 error (%+v)", e)
		case "default_add":
			check(e.NumRequests == 3 && e.NumErrors == 1, "add: 3 requests, 1 error (%+v)", e)
		case "default_get":
			check(e.Data.Link == "default" && e.Data.Ready, "replica figures: %+v", e.Data)
		}
	}

	// Calling an endpoint found by discovery.
	for _, e := range info.Endpoints {
		if e.Name == "default_exists" {
			m, err := nc.Request(e.Subject, []byte(`{"key":"hits"}`), timeout)
			check(err == nil && string(m.Data) == `{"exists":true}`, "exists via discovered subject")
		}
	}
	fmt.Printf("go kvd interop: %d checks passed\n", checks)
}

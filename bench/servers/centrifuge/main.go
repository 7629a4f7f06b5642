// Baseline (d): a Centrifugo-style server built from the Go library centrifuge 0.15 as Debian
// packages it (golang-github-centrifugal-centrifuge-dev), in-memory broker, JSON protocol.
//
// Built offline in GOPATH mode by bench/servers/centrifuge.ts and driven over stdin/stdout with
// one JSON object per line, so the publisher runs inside this process (as every baseline's does
// inside its own), with the same workload as bench/servers/workload.ts:
//
//	stdin  {"op":"run","spec":{...RunSpec}}  -> stdout {"op":"run","result":{...}}
//	stdin  {"op":"prime"} | {"op":"memory","gc":true} | {"op":"stats"}
//	stdout first line: {"op":"ready","port":N}
//
// Each publication carries the ticks of one topic published in one turn, up to maxTicksPerFrame
// (the FrameBatcher rule), as JSON {"ticks":[{seq,ts,gts,bid,ask,bidSize,askSize},...]}.
// centrifuge itself then packs up to 4 queued publications of a connection into one WebSocket
// frame, separated by newlines.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

type runSpec struct {
	Mode                string  `json:"mode"`
	DurationMs          float64 `json:"durationMs"`
	TicksPerTopicPerTurn int    `json:"ticksPerTopicPerTurn"`
	Rate                float64 `json:"rate"`
	MaxTurnsPerSec      float64 `json:"maxTurnsPerSec"`
}

type request struct {
	Op   string  `json:"op"`
	Spec runSpec `json:"spec"`
	GC   bool    `json:"gc"`
}

// Wall-clock milliseconds with sub-millisecond precision: the load clients compare it with
// performance.timeOrigin + performance.now() for latency.
func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

type publisher struct {
	node   *centrifuge.Node
	topics []string
	max    int
	seq    []int
	buf    []byte
	// Ticks of the current turn per topic, waiting to be published (FrameBatcher rule).
	pending [][]tick
	dirty   []int
}

type tick struct {
	seq int
	ts  float64
	gts float64
	n   int
}

func (p *publisher) publish(i int, ts float64, n int) {
	p.seq[i]++
	if len(p.pending[i]) == 0 {
		p.dirty = append(p.dirty, i)
	}
	p.pending[i] = append(p.pending[i], tick{seq: p.seq[i], ts: ts, gts: nowMs(), n: n})
}

func appendTick(b []byte, t tick) []byte {
	// makeTick in workload.ts: bid = 100 + (n % 1000)/100 + 0.003, ask = bid + 0.01.
	bid := 100 + float64(t.n%1000)/100 + 0.003
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(t.seq), 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendFloat(b, t.ts, 'f', 3, 64)
	b = append(b, `,"gts":`...)
	b = strconv.AppendFloat(b, t.gts, 'f', 3, 64)
	b = append(b, `,"bid":`...)
	b = strconv.AppendFloat(b, bid, 'f', -1, 64)
	b = append(b, `,"ask":`...)
	b = strconv.AppendFloat(b, bid+0.01, 'f', -1, 64)
	b = append(b, `,"bidSize":`...)
	b = strconv.AppendInt(b, int64(100+(t.n%9)*100), 10)
	b = append(b, `,"askSize":`...)
	b = strconv.AppendInt(b, int64(200+(t.n%7)*100), 10)
	return append(b, '}')
}

func (p *publisher) endTurn() {
	for _, i := range p.dirty {
		pending := p.pending[i]
		for start := 0; start < len(pending); start += p.max {
			end := start + p.max
			if end > len(pending) {
				end = len(pending)
			}
			b := append(p.buf[:0], `{"ticks":[`...)
			for k, t := range pending[start:end] {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendTick(b, t)
			}
			b = append(b, "]}"...)
			p.buf = b
			// The memory broker encodes the publication once per protocol and queues it to every subscriber.
			data := make([]byte, len(b))
			copy(data, b)
			if _, err := p.node.Publish(p.topics[i], data); err != nil {
				fmt.Fprintln(os.Stderr, "publish:", err)
			}
		}
		p.pending[i] = pending[:0]
	}
	p.dirty = p.dirty[:0]
}

type runResult struct {
	StartedAt   float64            `json:"startedAt"`
	EndedAt     float64            `json:"endedAt"`
	Turns       int                `json:"turns"`
	Ticks       int                `json:"ticks"`
	MaxLagMs    float64            `json:"maxLagMs"`
	Published   []int              `json:"published"`
	CPUUserUs   int64              `json:"cpuUserUs"`
	CPUSystemUs int64              `json:"cpuSystemUs"`
	Memory      map[string]float64 `json:"memory"`
	Stats       map[string]any     `json:"stats"`
}

func cpuUs() (int64, int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + ru.Utime.Usec, ru.Stime.Sec*1e6 + ru.Stime.Usec
}

// run is runPublisher in workload.ts: max mode publishes turn after turn, yielding between
// turns; rate mode is open loop, tick i due at start + i/rate and stamped with that time.
func (p *publisher) run(spec runSpec) (r runResult) {
	n := len(p.topics)
	u0, s0 := cpuUs()
	r.StartedAt = nowMs()
	endAt := r.StartedAt + spec.DurationMs
	if spec.Mode == "max" {
		k := spec.TicksPerTopicPerTurn
		if k < 1 {
			k = 1
		}
		pace := 0.0
		if spec.MaxTurnsPerSec > 0 {
			pace = 1000 / spec.MaxTurnsPerSec
		}
		for {
			now := nowMs()
			if now >= endAt {
				break
			}
			for t := 0; t < n; t++ {
				for j := 0; j < k; j++ {
					p.publish(t, now, r.Ticks)
					r.Ticks++
				}
			}
			p.endTurn()
			r.Turns++
			if ahead := r.StartedAt + float64(r.Turns)*pace - nowMs(); pace > 0 && ahead > 1 {
				time.Sleep(time.Duration(ahead * float64(time.Millisecond)))
			} else {
				runtime.Gosched()
			}
		}
	} else {
		interval := 1000 / spec.Rate
		total := int(spec.DurationMs / 1000 * spec.Rate)
		for r.Ticks < total {
			now := nowMs()
			published := false
			for r.Ticks < total {
				due := r.StartedAt + float64(r.Ticks)*interval
				if due > now {
					break
				}
				p.publish(r.Ticks%n, due, r.Ticks)
				if now-due > r.MaxLagMs {
					r.MaxLagMs = now - due
				}
				r.Ticks++
				published = true
			}
			if published {
				p.endTurn()
				r.Turns++
			}
			if r.Ticks < total {
				// Sleep until the next tick is due (Go timers are fine-grained enough at 0.1 ms spacing;
				// lateness shows up in latency because ts is the scheduled time).
				if d := r.StartedAt + float64(r.Ticks)*interval - nowMs(); d > 0 {
					time.Sleep(time.Duration(d * float64(time.Millisecond)))
				}
			}
		}
	}
	r.EndedAt = nowMs()
	u1, s1 := cpuUs()
	r.CPUUserUs, r.CPUSystemUs = u1-u0, s1-s0
	r.Published = append([]int(nil), p.seq...)
	return r
}

func memory() map[string]float64 {
	m := map[string]float64{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			for key, name := range map[string]string{"VmRSS:": "rss", "RssAnon:": "rssAnon", "RssFile:": "rssFile"} {
				if strings.HasPrefix(line, key) {
					f := strings.Fields(line)
					if len(f) >= 2 {
						v, _ := strconv.ParseFloat(f[1], 64)
						m[name] = v * 1024
					}
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// Go's live heap plays the part of V8's heapUsed.
	m["heapUsed"] = float64(ms.HeapAlloc)
	m["heapTotal"] = float64(ms.HeapSys)
	m["goroutines"] = float64(runtime.NumGoroutine())
	return m
}

func main() {
	topicCount := flag.Int("topics", 100, "topics")
	maxTicks := flag.Int("max-ticks-per-frame", 64, "most ticks per publication")
	flag.Parse()

	cfg := centrifuge.DefaultConfig
	cfg.LogLevel = centrifuge.LogLevelError
	cfg.LogHandler = func(e centrifuge.LogEntry) { fmt.Fprintf(os.Stderr, "centrifuge: %s %v\n", e.Message, e.Fields) }
	// A max-rate publisher queues faster than loopback drains; the default 10 MB per-client queue
	// limit would disconnect clients the others keep. Same headroom as the raw uWS baseline.
	cfg.ClientQueueMaxSize = 64 * 1024 * 1024
	cfg.ClientChannelLimit = 2048
	node, err := centrifuge.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	connections := 0
	var mu sync.Mutex
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: ""}}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		mu.Lock()
		connections++
		mu.Unlock()
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnDisconnect(func(e centrifuge.DisconnectEvent) {
			mu.Lock()
			connections--
			mu.Unlock()
		})
	})
	if err := node.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, mux) }()

	topics := make([]string, *topicCount)
	for i := range topics {
		topics[i] = fmt.Sprintf("equity.SYM%03d.quote", i)
	}
	p := &publisher{node: node, topics: topics, max: *maxTicks, seq: make([]int, len(topics)), pending: make([][]tick, len(topics))}

	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"op": "ready", "port": ln.Addr().(*net.TCPAddr).Port, "pid": os.Getpid(), "version": "centrifuge 0.15 (Debian)"})
	stats := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"connections": connections, "hubClients": node.Hub().NumClients()}
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(map[string]any{"op": "error", "error": err.Error()})
			continue
		}
		switch req.Op {
		case "run":
			r := p.run(req.Spec)
			r.Memory = memory()
			r.Stats = stats()
			_ = out.Encode(map[string]any{"op": "run", "result": r})
		case "prime":
			now := nowMs()
			for i := range topics {
				p.publish(i, now, i)
			}
			p.endTurn()
			_ = out.Encode(map[string]any{"op": "prime", "result": map[string]any{"published": p.seq}})
		case "memory":
			if req.GC {
				runtime.GC()
				debug.FreeOSMemory()
			}
			_ = out.Encode(map[string]any{"op": "memory", "result": memory()})
		case "stats":
			_ = out.Encode(map[string]any{"op": "stats", "result": stats()})
		default:
			_ = out.Encode(map[string]any{"op": "error", "error": "unknown op " + req.Op})
		}
	}
	// stdin closed: the harness is done with us.
	_ = node.Shutdown(context.Background())
}

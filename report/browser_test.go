package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

var screenshotOut = flag.String("screenshot", "", "also write the browser test's screenshot (top of the report) to this PNG file, such as ../docs/report.png")

// findChromium returns Debian's chromium (or $PIOBENCH_CHROMIUM).
func findChromium() string {
	if p := os.Getenv("PIOBENCH_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// A recorder is an HTTP proxy that answers every request with an error
// and remembers it. The browser is told to send everything through it,
// so any request the page attempts (to any host, loopback included) is
// seen here.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	host := req.URL.Hostname()
	if host == "" {
		host, _, _ = strings.Cut(req.Host, ":")
	}
	r.reqs = append(r.reqs, req.Method+" "+host+" "+req.URL.String())
	r.mu.Unlock()
	http.Error(w, "no network in a report", http.StatusForbidden)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// A cdp is a minimal client of the Chrome DevTools Protocol over its
// websocket: enough to open a page, watch its requests, measure its layout
// and take a screenshot.
type cdp struct {
	ws      *websocket.Conn
	next    int
	msgs    chan json.RawMessage
	events  []cdpMessage
	session string
}

type cdpMessage struct {
	ID        int             `json:"id"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	Result    json.RawMessage `json:"result"`
	Error     *struct{ Message string }
	SessionID string `json:"sessionId"`
}

func dialCDP(url string) (*cdp, error) {
	cfg, err := websocket.NewConfig(url, "http://127.0.0.1")
	if err != nil {
		return nil, err
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	ws.MaxPayloadBytes = 256 << 20
	c := &cdp{ws: ws, msgs: make(chan json.RawMessage, 1024)}
	go func() {
		defer close(c.msgs)
		for {
			var m []byte
			if err := websocket.Message.Receive(ws, &m); err != nil {
				return
			}
			c.msgs <- m
		}
	}()
	return c, nil
}

// call sends a command and waits for its answer, keeping the events that
// arrive meanwhile.
func (c *cdp) call(ctx context.Context, method string, params any, out any) error {
	c.next++
	id := c.next
	msg := map[string]any{"id": id, "method": method, "params": params}
	if c.session != "" {
		msg["sessionId"] = c.session
	}
	b, _ := json.Marshal(msg)
	if err := websocket.Message.Send(c.ws, string(b)); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", method, ctx.Err())
		case raw, ok := <-c.msgs:
			if !ok {
				return fmt.Errorf("%s: connection closed", method)
			}
			var m cdpMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return err
			}
			if m.ID == 0 {
				c.events = append(c.events, m)
				continue
			}
			if m.ID != id {
				continue
			}
			if m.Error != nil {
				return fmt.Errorf("%s: %s", method, m.Error.Message)
			}
			if out != nil {
				return json.Unmarshal(m.Result, out)
			}
			return nil
		}
	}
}

// waitEvent waits for an event, looking first at those already kept.
func (c *cdp) waitEvent(ctx context.Context, method string) error {
	for _, e := range c.events {
		if e.Method == method {
			return nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		case raw, ok := <-c.msgs:
			if !ok {
				return fmt.Errorf("waiting for %s: connection closed", method)
			}
			var m cdpMessage
			json.Unmarshal(raw, &m)
			if m.ID == 0 {
				c.events = append(c.events, m)
				if m.Method == method {
					return nil
				}
			}
		}
	}
}

// startChromium starts headless Chromium with a fresh profile, every
// request sent through proxy, and the DevTools protocol on a free port.
func startChromium(ctx context.Context, t *testing.T, bin, proxy string) string {
	profile, err := os.MkdirTemp("", "piobench-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
		"--user-data-dir="+profile,
		"--proxy-server=http://"+proxy, "--proxy-bypass-list=<-loopback>",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=http://127.0.0.1",
		"--hide-scrollbars", "--force-device-scale-factor=1",
		// Less of the browser's own traffic (it goes to the proxy, which
		// refuses it, but it is noise in the log).
		"--no-pings", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
		"--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--safebrowsing-disable-auto-update",
		"--disable-features=OptimizationHints,MediaRouter,AutofillServerCommunication,Translate,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater",
		"about:blank")
	ownGroup(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopGroup(cmd)
		cmd.Wait()
		// Helper processes may still be leaving the profile; retry.
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-ctx.Done():
		t.Fatalf("chromium did not start: %v", ctx.Err())
	}
	return ""
}

// A chartBox is where the browser laid out a chart, and how many marks
// its SVG holds.
type chartBox struct {
	ID                  string
	X, Y, Width, Height float64
	Paths, Texts        int
}

// TestBrowser opens the report of a fixture run (two models, a load
// test, a scalability sweep and a history) in headless Chromium, checks
// that no request was attempted, and that every chart was laid out with
// its marks and drew in its area of a screenshot. A control page that
// does make requests shows that they would be seen.
func TestBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("chromium not installed (apt-get install chromium; .ci/run installs it)")
	}
	if testing.Short() {
		t.Skip("-short: the browser test takes about half a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rec, proxy := startRecorder(t)
	browser, err := dialCDP(startChromium(ctx, t, bin, proxy))
	if err != nil {
		t.Fatal(err)
	}
	defer browser.ws.Close()
	dir := t.TempDir()

	t.Run("report", func(t *testing.T) {
		page := filepath.Join(dir, "report.html")
		var b bytes.Buffer
		if err := WriteHTML(&b, fullFixture(t)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		shot, boxes, requests := load(ctx, t, browser, "file://"+page)
		if len(requests) > 0 {
			t.Errorf("the page attempted %d requests: %v", len(requests), requests)
		}
		for _, r := range rec.requests() {
			if browserOwn(r) {
				t.Logf("the browser's own request, not the page's: %s", r)
				continue
			}
			t.Errorf("the proxy saw a request: %s", r)
		}
		want := map[string]bool{}
		charts, _ := Charts(fullFixture(t))
		for _, c := range charts {
			want["chart-"+c.ID] = true
		}
		if len(boxes) != len(want) {
			t.Errorf("the browser laid out %d charts, the report has %d", len(boxes), len(want))
		}
		for _, bx := range boxes {
			if !want[bx.ID] {
				t.Errorf("unexpected chart %s", bx.ID)
			}
			if bx.Width < 300 || bx.Height < 100 {
				t.Errorf("%s is %.0fx%.0f px: not laid out", bx.ID, bx.Width, bx.Height)
				continue
			}
			if bx.Paths < 10 || bx.Texts < 3 {
				t.Errorf("%s holds %d paths and %d texts: no marks", bx.ID, bx.Paths, bx.Texts)
			}
			ink, colour := inkIn(shot, bx)
			area := bx.Width * bx.Height
			if float64(ink) < 0.02*area || colour < 40 {
				t.Errorf("%s: %d dark and %d coloured pixels in %.0f: the chart did not draw", bx.ID, ink, colour, area)
			}
		}
		if *screenshotOut != "" {
			writeTop(t, shot, *screenshotOut, 1900)
		}
	})

	t.Run("bad-input", func(t *testing.T) {
		// Markup in names and model output, 200-character names, a run
		// whose results all failed, and an empty file: no request, and
		// nothing wider than the window.
		rep := fixture(t, "evil.json", "failed.json", "empty.json")
		rep.History = &History{Runs: 1}
		page := filepath.Join(dir, "bad.html")
		var b bytes.Buffer
		if err := WriteHTML(&b, rep); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(page, b.Bytes(), 0o644)
		_, boxes, requests, width := loadPage(ctx, t, browser, "file://"+page)
		if len(requests) > 0 {
			t.Errorf("the page attempted requests: %v", requests)
		}
		if width > 1280 {
			t.Errorf("the page is %d px wide in a 1280 px window: long names broke the layout", width)
		}
		if len(boxes) == 0 {
			t.Error("no chart of the results that did not fail")
		}
	})

	t.Run("control", func(t *testing.T) {
		page := filepath.Join(dir, "leaky.html")
		os.WriteFile(page, []byte(`<!DOCTYPE html><html><body><img src="http://example.invalid/pixel.png"><script src="https://cdn.example.invalid/x.js"></script></body></html>`), 0o644)
		_, _, requests := load(ctx, t, browser, "file://"+page)
		if len(requests) < 2 {
			t.Errorf("saw %d requests from a page that makes 2: %v", len(requests), requests)
		}
		seen := false
		for _, r := range rec.requests() {
			seen = seen || strings.Contains(r, "example.invalid")
		}
		if !seen {
			t.Errorf("the proxy saw none of the page's requests: %v", rec.requests())
		}
	})
}

// browserOwn recognises the requests Chromium makes for itself (time,
// component updates, accounts) even with background networking off; the
// DevTools protocol's events, which see every request of the page, are
// what the test relies on for the page.
func browserOwn(req string) bool {
	f := strings.Fields(req)
	if len(f) < 2 {
		return false
	}
	host := f[1]
	for _, d := range []string{".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com", ".gvt2.com", ".google", ".googleusercontent.com", ".appspot.com", ".chromium.org"} {
		if strings.HasSuffix("."+host, d) {
			return true
		}
	}
	return false
}

func startRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rec, ln.Addr().String()
}

// load opens url in a new tab at 1280 px wide, waits for it and its fonts,
// and returns a screenshot of the whole page, the charts' boxes and the
// requests the page attempted (other than the page itself).
func load(ctx context.Context, t *testing.T, c *cdp, url string) (image.Image, []chartBox, []string) {
	img, boxes, reqs, _ := loadPage(ctx, t, c, url)
	return img, boxes, reqs
}

// loadPage is load, also returning how wide the page's content is.
func loadPage(ctx context.Context, t *testing.T, c *cdp, url string) (image.Image, []chartBox, []string, int) {
	t.Helper()
	var target struct{ TargetID string }
	if err := c.call(ctx, "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct{ SessionID string }
	if err := c.call(ctx, "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	c.session = att.SessionID
	for _, m := range []string{"Network.enable", "Page.enable", "Log.enable"} {
		if err := c.call(ctx, m, map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	metrics := map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
		t.Fatal(err)
	}
	c.events = nil
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitEvent(ctx, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Result struct{ Value string }
	}
	js := `document.fonts.ready.then(() => JSON.stringify({
		height: document.documentElement.scrollHeight,
		width: document.documentElement.scrollWidth,
		fonts: [...document.fonts].filter(f => f.status === "loaded").map(f => f.family),
		charts: [...document.querySelectorAll("figure.chart")].map(f => {
			const s = f.querySelector("svg"); const r = s ? s.getBoundingClientRect() : {x:0,y:0,width:0,height:0};
			return {ID: f.id, X: r.x + scrollX, Y: r.y + scrollY, Width: r.width, Height: r.height,
				Paths: f.querySelectorAll("svg path").length, Texts: f.querySelectorAll("svg text").length};
		})}))`
	if err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true}, &ev); err != nil {
		t.Fatal(err)
	}
	var layout struct {
		Height int
		Width  int
		Fonts  []string
		Charts []chartBox
	}
	if err := json.Unmarshal([]byte(ev.Result.Value), &layout); err != nil {
		t.Fatalf("layout %q: %v", ev.Result.Value, err)
	}
	if layout.Height > 0 && len(layout.Charts) > 0 && !contains(layout.Fonts, "Liberation Sans") {
		t.Errorf("the embedded font did not load (loaded: %v)", layout.Fonts)
	}
	metrics["height"] = max(layout.Height, 100)
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
		t.Fatal(err)
	}
	var shot struct{ Data string }
	if err := c.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var requests []string
	for _, e := range c.events {
		if e.Method != "Network.requestWillBeSent" {
			continue
		}
		var p struct{ Request struct{ URL string } }
		json.Unmarshal(e.Params, &p)
		if p.Request.URL != url && !strings.HasPrefix(p.Request.URL, "data:") {
			requests = append(requests, p.Request.URL)
		}
	}
	// A request the page's policy blocked was still attempted: the
	// browser logs it as a violation.
	for _, e := range c.events {
		if e.Method != "Log.entryAdded" {
			continue
		}
		var p struct {
			Entry struct{ Source, Level, Text string }
		}
		json.Unmarshal(e.Params, &p)
		if p.Entry.Source == "violation" || p.Entry.Source == "security" || p.Entry.Source == "network" {
			requests = append(requests, p.Entry.Source+": "+p.Entry.Text)
		}
	}
	return img, layout.Charts, requests, layout.Width
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// inkIn counts, inside a chart's box, pixels that are not background
// (dark: axes, text, marks) and pixels of saturated colour (the marks:
// bars, lines, points are drawn in the palette's colours).
func inkIn(img image.Image, bx chartBox) (ink, colour int) {
	r := image.Rect(int(bx.X), int(bx.Y), int(bx.X+bx.Width), int(bx.Y+bx.Height)).Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(cr>>8), int(cg>>8), int(cb>>8)
			if r8+g8+b8 < 3*235 {
				ink++
			}
			if max(r8, g8, b8)-min(r8, g8, b8) > 60 {
				colour++
			}
		}
	}
	return ink, colour
}

// writeTop writes the top of the screenshot to path.
func writeTop(t *testing.T, img image.Image, path string, height int) {
	b := img.Bounds()
	if b.Dy() > height {
		b.Max.Y = b.Min.Y + height
	}
	sub := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			sub.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, sub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%dx%d)", path, b.Dx(), b.Dy())
}

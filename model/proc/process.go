package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/inference-pio/piobench/plugins/python"
	"github.com/inference-pio/piobench/result"
)

// maxLine bounds one line of plugin output (a batch of long answers fits).
const maxLine = 64 << 20

// A process is one running plugin: its pipes and the state of the
// conversation. Calls read and write the pipes on the calling goroutine
// (no hand-off between goroutines on the way), with deadlines for
// timeouts, cancellation and the plugin's exit.
type process struct {
	name string // the plugin's name, for errors
	cmd  *exec.Cmd
	pid  int

	stdinMu sync.Mutex
	stdin   *os.File

	stdout  *os.File
	br      *bufio.Reader
	partial []byte // a line read in part when a deadline passed
	lineNo  int
	readErr error // set once stdout is unusable (protocol error, EOF)

	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the exit status; read after exited is closed

	log     *stderrLog
	nextID  int64
	stopped sync.Once
}

// A StepError is an error of one step of talking to a plugin: it names
// the plugin and the step, says what went wrong, and carries the tail of
// the plugin's stderr and the path of the full log.
type StepError struct {
	Plugin string
	Step   string // spawn, handshake, load, infer, infer_batch, stats, unload, close
	Err    error
	Tail   string // last lines of stderr
	Log    string // path of the whole stderr log
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %q: %s: %v", e.Plugin, e.Step, e.Err)
	if last := oneLine(e.Tail); last != "" {
		fmt.Fprintf(&b, " (stderr: %s)", last)
	}
	if e.Log != "" {
		fmt.Fprintf(&b, " [log: %s]", e.Log)
	}
	if strings.Contains(strings.TrimSpace(e.Tail), "\n") {
		b.WriteString("\nstderr tail:\n")
		b.WriteString(strings.TrimRight(e.Tail, "\n"))
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// A PluginError is an error the plugin itself reported for a call.
type PluginError struct {
	WireError
}

func (e *PluginError) Error() string {
	if e.Type != "" {
		return e.Type + ": " + e.Message
	}
	return e.Message
}

// ErrExited is wrapped by errors of a call during which the plugin exited.
var ErrExited = errors.New("plugin exited")

// ErrTimeout is wrapped by errors of a call the plugin did not answer in
// time.
var ErrTimeout = errors.New("no answer in time")

// ErrProtocol is wrapped by errors about output that breaks the protocol.
var ErrProtocol = errors.New("protocol error")

// spawnOptions say how to start a plugin.
type spawnOptions struct {
	argv    []string
	dir     string
	env     []string // added to piobench's environment
	logPath string   // where stderr goes; a temporary file when empty
}

// spawn starts the plugin in a process group of its own, so that it and
// every process it starts can be ended together.
func spawn(name string, o spawnOptions) (*process, error) {
	if len(o.argv) == 0 {
		return nil, errors.New("no command")
	}
	log, err := openStderrLog(name, o.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Env = append(cmd.Env, "PIOBENCH_PROTOCOL=1", "PYTHONUNBUFFERED=1")
	if dir, err := python.HelperDir(); err == nil {
		// Python plugins can import piobench_plugin without a copy of it
		// (a copy beside the script comes first on sys.path).
		cmd.Env = append(cmd.Env, "PYTHONPATH="+joinPath(dir, lookupEnv(cmd.Env, "PYTHONPATH")))
	}
	setProcessGroup(cmd)
	// Pipes of our own (rather than exec's), so that reads and writes can
	// have deadlines.
	inR, inW, err := os.Pipe()
	if err != nil {
		log.close()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		log.close()
		return nil, err
	}
	// stderr too: exec's pipe is closed by Wait as soon as the plugin
	// exits, losing its last words while a child process it left keeps
	// the pipe open; ours is drained after the exit (see below).
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		log.close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		log.close()
		return nil, err
	}
	p := &process{
		name:   name,
		cmd:    cmd,
		pid:    cmd.Process.Pid,
		stdin:  inW,
		stdout: outR,
		br:     bufio.NewReaderSize(outR, 64<<10),
		exited: make(chan struct{}),
		log:    log,
	}
	stderrDone := make(chan struct{})
	go func() { p.log.copy(errR); errR.Close(); close(stderrDone) }()
	go func() {
		err := cmd.Wait()
		// The copy takes what the plugin wrote; a process it left behind
		// may hold stderr open, so the copy stops 200 ms after the exit.
		errR.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		<-stderrDone
		p.waitErr = err
		p.log.close()
		close(p.exited)
		// A process that outlives the plugin may hold its stdout open: do
		// not let a read wait for it for long.
		p.stdout.SetReadDeadline(time.Now().Add(time.Second))
	}()
	return p, nil
}

func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val // the last one wins, as in exec
		}
	}
	return v
}

func joinPath(dir, rest string) string {
	if rest == "" {
		return dir
	}
	return dir + string(os.PathListSeparator) + rest
}

// next reads and parses the plugin's next line, stamping it on arrival.
// Errors: ErrProtocol for a line that breaks the protocol, io.EOF when
// stdout ends, os.ErrDeadlineExceeded when the read deadline passes.
func (p *process) next() (Message, error) {
	if p.readErr != nil {
		return Message{}, p.readErr
	}
	for {
		line, err := p.readLine()
		at := time.Now()
		if len(bytes.TrimSpace(line)) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			p.lineNo++
			m, perr := ParseMessage(line)
			if perr != nil {
				p.readErr = fmt.Errorf("%w: stdout line %d: %v", ErrProtocol, p.lineNo, perr)
				return Message{}, p.readErr
			}
			m.At = at
			return m, nil
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) || errors.Is(err, io.EOF) {
				p.readErr = err
			}
			return Message{}, err
		}
	}
}

// readLine reads one line of at most maxLine bytes, without its newline.
// What was read of a line when a deadline passes is kept for the next
// read, so nothing is lost.
func (p *process) readLine() ([]byte, error) {
	for {
		chunk, err := p.br.ReadSlice('\n')
		if len(p.partial)+len(chunk) > maxLine {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrProtocol, maxLine)
		}
		if err == nil {
			if len(p.partial) == 0 {
				return chunk[:len(chunk)-1], nil
			}
			line := append(p.partial, chunk[:len(chunk)-1]...)
			p.partial = nil
			return line, nil
		}
		p.partial = append(p.partial, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			line := p.partial
			p.partial = nil
			return line, err
		}
		return nil, err
	}
}

// send writes one request line. A plugin that stops reading its stdin
// blocks the write; the deadline turns that into an error.
func (p *process) send(id int64, method string, params any, deadline time.Duration) error {
	b, err := json.Marshal(request{ID: id, Method: method, Params: params})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	p.stdin.SetWriteDeadline(time.Now().Add(deadline))
	if _, err := p.stdin.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: its stdin stayed full for %v (it is not reading)", ErrTimeout, deadline)
		}
		return fmt.Errorf("%w: writing to its stdin: %v", ErrExited, err)
	}
	return nil
}

// exitError describes why the plugin's stdout ended: the protocol error
// that made piobench stop it, or its exit status.
func (p *process) exitError() error {
	if p.readErr != nil && errors.Is(p.readErr, ErrProtocol) {
		return p.readErr
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		// stdout closed but the process lives on: end it.
		p.kill()
		<-p.exited
		return fmt.Errorf("%w: it closed its stdout", ErrExited)
	}
	return fmt.Errorf("%w %s", ErrExited, describeExit(p.waitErr))
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.Exited() {
			return fmt.Sprintf("with status %d", ee.ExitCode())
		}
		return "(" + ee.String() + ")"
	}
	if err == nil {
		return "with status 0"
	}
	return "(" + err.Error() + ")"
}

// stepError wraps err with the plugin's name, the step and stderr.
func (p *process) stepError(step string, err error) error {
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrTimeout) {
		// Let the last words on stderr arrive.
		select {
		case <-p.exited:
		case <-time.After(200 * time.Millisecond):
		}
	}
	return &StepError{Plugin: p.name, Step: step, Err: err, Tail: p.log.tail(), Log: p.log.path}
}

// kill ends the plugin's whole process group at once.
func (p *process) kill() {
	p.stopped.Do(func() {
		killGroup(p.pid)
		p.stdinMu.Lock()
		p.stdin.Close()
		p.stdinMu.Unlock()
		// A read in progress (or a process left holding stdout) must not
		// keep anyone waiting.
		p.stdout.SetReadDeadline(time.Now())
	})
}

// call sends one request and waits for its final message, passing events
// to onEvent. The call ends with an error when the plugin reports one,
// exits, breaks the protocol, or does not answer within timeout; when ctx
// is done the plugin is asked to cancel (if it can) and ended if it does
// not stop within a few seconds. The returned time is when the final
// message arrived.
func (p *process) call(ctx context.Context, method string, params any, timeout time.Duration, canCancel bool, onEvent func(Message) error) (json.RawMessage, time.Time, error) {
	p.nextID++
	id := p.nextID
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	select {
	case <-p.exited:
		return nil, time.Time{}, p.exitError()
	default:
	}
	if err := p.send(id, method, params, min(timeout, 30*time.Second)); err != nil {
		if errors.Is(err, ErrTimeout) {
			p.kill()
		}
		return nil, time.Time{}, err
	}
	deadline := time.Now().Add(timeout)
	p.stdout.SetReadDeadline(deadline)
	// Cancellation interrupts a read in progress by moving the deadline
	// (a late move is undone below: the deadline is put back).
	stopWatch := context.AfterFunc(ctx, func() { p.stdout.SetReadDeadline(time.Now()) })
	defer stopWatch()
	var stopErr error // set once the call is being stopped early
	for {
		m, err := p.next()
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return nil, time.Time{}, err
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, time.Time{}, p.exitError()
			}
			select {
			case <-p.exited:
				return nil, time.Time{}, p.exitError()
			default:
			}
			if ctx.Err() != nil && stopErr == nil {
				// Cancelled: ask the plugin to stop, and give it grace.
				stopWatch()
				stopErr = ctx.Err()
				deadline = p.stopCall(id, canCancel, 5*time.Second)
				continue
			}
			if time.Now().Before(deadline) {
				// The deadline was moved and put back; read on.
				p.stdout.SetReadDeadline(deadline)
				continue
			}
			p.kill()
			if stopErr != nil {
				return nil, time.Time{}, stopErr // it did not stop when asked
			}
			return nil, time.Time{}, fmt.Errorf("%w: %s did not answer within %v", ErrTimeout, method, timeout)
		}
		if m.ID != id {
			continue // the tail of an earlier, abandoned call
		}
		if !m.final() {
			if stopErr != nil || onEvent == nil {
				continue
			}
			if err := onEvent(m); err != nil {
				stopErr = err
				deadline = p.stopCall(id, canCancel, 30*time.Second)
			}
			continue
		}
		if stopErr != nil {
			return nil, m.At, stopErr
		}
		if m.Error != nil {
			return nil, m.At, &PluginError{*m.Error}
		}
		return m.Result, m.At, nil
	}
}

// stopCall asks the plugin to cancel call id and gives it grace to finish
// (the caller reads on until the final message), so that the next call
// starts on a quiet plugin. It returns the new deadline.
func (p *process) stopCall(id int64, canCancel bool, grace time.Duration) time.Time {
	if canCancel {
		p.nextID++
		p.send(p.nextID, "cancel", map[string]int64{"id": id}, time.Second)
	}
	d := time.Now().Add(grace)
	p.stdout.SetReadDeadline(d)
	return d
}

// stderrLog copies a plugin's stderr to a file and keeps its last lines.
type stderrLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	buf  []byte // the last tailBytes bytes
}

const tailBytes = 4096

func openStderrLog(name, path string) (*stderrLog, error) {
	var f *os.File
	var err error
	if path == "" {
		f, err = os.CreateTemp("", "piobench-plugin-"+safeName(name)+"-*.log")
	} else {
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("stderr log: %w", err)
	}
	return &stderrLog{path: f.Name(), f: f}, nil
}

// safeName makes a plugin's name safe in a file name (path separators,
// NUL, very long names).
func safeName(s string) string { return result.SafeFileName(s) }

func (l *stderrLog) copy(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.mu.Lock()
			if l.f != nil {
				l.f.Write(buf[:n])
			}
			l.buf = append(l.buf, buf[:n]...)
			if len(l.buf) > tailBytes {
				l.buf = append(l.buf[:0], l.buf[len(l.buf)-tailBytes:]...)
			}
			l.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// tail returns the last (at most 10) lines of stderr.
func (l *stderrLog) tail() string {
	l.mu.Lock()
	s := string(l.buf)
	l.mu.Unlock()
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

func (l *stderrLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

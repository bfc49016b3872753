package proc

import (
	"bufio"
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
)

// maxLine bounds one line of plugin output (a batch of long answers fits).
const maxLine = 64 << 20

// A process is one running plugin: its pipes, the goroutines that read
// them, and the state of the conversation.
type process struct {
	name string // the plugin's name, for errors
	cmd  *exec.Cmd
	pid  int

	stdinMu sync.Mutex
	stdin   io.WriteCloser

	msgs    chan Message // from the stdout reader; closed when stdout ends
	readErr error        // why the reader stopped; read after msgs is closed

	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the exit status; read after exited is closed

	log     *stderrLog
	nextID  int64
	killed  bool // we killed it: its exit is not the plugin's fault
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
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.close()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		log.close()
		return nil, err
	}
	p := &process{
		name:   name,
		cmd:    cmd,
		pid:    cmd.Process.Pid,
		stdin:  stdin,
		msgs:   make(chan Message, 256),
		exited: make(chan struct{}),
		log:    log,
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.log.copy(stderr) }()
	go func() { defer pipes.Done(); p.readStdout(stdout) }()
	go func() {
		// Wait closes the pipes, so the readers must be done first.
		pipes.Wait()
		p.waitErr = cmd.Wait()
		p.log.close()
		close(p.exited)
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

// readStdout parses the plugin's stdout, stamping each line as it
// arrives. At the first line that breaks the protocol it stops reading
// (and the caller ends the plugin).
func (p *process) readStdout(r io.Reader) {
	closeMsgs := sync.OnceFunc(func() { close(p.msgs) })
	defer closeMsgs()
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	for {
		line, err := readLine(br)
		at := time.Now()
		if len(line) > 0 {
			lineNo++
			m, perr := ParseMessage(line)
			if perr != nil {
				p.readErr = fmt.Errorf("%w: stdout line %d: %v", ErrProtocol, lineNo, perr)
				closeMsgs()
				// Keep the pipe drained until the plugin is ended.
				io.Copy(io.Discard, r)
				return
			}
			m.At = at
			p.msgs <- m
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.readErr = err
			}
			return
		}
	}
}

// readLine reads one line of at most maxLine bytes, without its newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrProtocol, maxLine)
		}
		if err == nil {
			if buf == nil {
				return chunk[:len(chunk)-1], nil
			}
			return append(buf, chunk[:len(chunk)-1]...), nil
		}
		buf = append(buf, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
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
	done := make(chan error, 1)
	go func() {
		p.stdinMu.Lock()
		defer p.stdinMu.Unlock()
		_, err := p.stdin.Write(b)
		done <- err
	}()
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: writing to its stdin: %v", ErrExited, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: its stdin stayed full for %v (it is not reading)", ErrTimeout, deadline)
	}
}

// exitError describes why the plugin's stdout ended: its exit status, or
// the protocol error that made piobench stop it.
func (p *process) exitError() error {
	if p.readErr != nil {
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
		p.killed = true
		killGroup(p.pid)
		p.stdin.Close()
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
	if err := p.send(id, method, params, min(timeout, 30*time.Second)); err != nil {
		if errors.Is(err, ErrTimeout) {
			p.kill()
		}
		return nil, time.Time{}, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var stopErr error // set once the call is being stopped early
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return nil, time.Time{}, p.exitError()
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
					p.stopCall(id, canCancel, timer, 30*time.Second)
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
		case <-timer.C:
			if stopErr != nil {
				// It did not stop when asked.
				p.kill()
				return nil, time.Time{}, stopErr
			}
			p.kill()
			return nil, time.Time{}, fmt.Errorf("%w: %s did not answer within %v", ErrTimeout, method, timeout)
		case <-ctx.Done():
			if stopErr != nil {
				p.kill()
				return nil, time.Time{}, stopErr
			}
			stopErr = ctx.Err()
			p.stopCall(id, canCancel, timer, 5*time.Second)
			ctx = context.Background()
		}
	}
}

// stopCall asks the plugin to cancel call id and gives it grace to finish,
// so that the next call starts on a quiet plugin.
func (p *process) stopCall(id int64, canCancel bool, timer *time.Timer, grace time.Duration) {
	if canCancel {
		p.nextID++
		p.send(p.nextID, "cancel", map[string]int64{"id": id}, time.Second)
	}
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	timer.Reset(grace)
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

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "plugin"
	}
	return b.String()
}

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

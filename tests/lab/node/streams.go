package main

// Container logs (CRI log format on disk: "<RFC3339Nano> <stream> F <line>") and exec, served through
// virtual-kubelet's kubelet API routes (the API server proxies pods/log and pods/exec to them).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	utilexec "k8s.io/utils/exec"
)

type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func newLogWriter(path string) *logWriter {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return &logWriter{}
	}
	return &logWriter{f: f}
}

func (w *logWriter) copy(stream string, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			tag := "F"
			if !strings.HasSuffix(line, "\n") {
				tag = "P"
				line += "\n"
			}
			w.mu.Lock()
			if w.f != nil {
				fmt.Fprintf(w.f, "%s %s %s %s", time.Now().UTC().Format(time.RFC3339Nano), stream, tag, line)
			}
			w.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
}

// rotateLog keeps the previous run's log for `kubectl logs --previous`.
func (ps *podState) rotateLog(c *ctrState) {
	if _, err := os.Stat(c.logPath); err == nil {
		_ = os.Rename(c.logPath, c.logPath+".previous")
	}
}

type logLine struct {
	at   time.Time
	text string
	tag  string
}

func readLog(path string) ([]logLine, int64) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0
	}
	var lines []logLine
	for _, raw := range bytes.SplitAfter(data, []byte("\n")) {
		if len(raw) == 0 || raw[len(raw)-1] != '\n' {
			continue
		}
		parts := strings.SplitN(string(raw), " ", 4)
		if len(parts) != 4 {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, parts[0])
		text := parts[3]
		if parts[2] == "P" {
			text = strings.TrimSuffix(text, "\n")
		}
		lines = append(lines, logLine{at: at, text: text, tag: parts[2]})
	}
	return lines, int64(len(data))
}

func (p *Provider) GetContainerLogs(ctx context.Context, ns, name, container string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	ps, err := p.lookup(ns, name)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	var c *ctrState
	for _, x := range append(append([]*ctrState{}, ps.inits...), ps.ctrs...) {
		if x.spec.Name == container {
			c = x
		}
	}
	if c == nil {
		ps.mu.Unlock()
		return nil, errdefs.NotFoundf("container %q in pod %q is not available", container, name)
	}
	path := c.logPath
	if opts.Previous {
		path += ".previous"
	}
	done := c.done
	waiting := c.state.Waiting != nil && c.last.Terminated == nil && c.pid == 0 && c.done == nil
	ps.mu.Unlock()
	if waiting {
		return nil, errdefs.InvalidInputf("container %q in pod %q is waiting to start: %s", container, name, c.state.Waiting.Reason)
	}
	if opts.Previous {
		if _, err := os.Stat(path); err != nil {
			return nil, errdefs.InvalidInputf("previous terminated container %q in pod %q not found", container, name)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		written := 0
		emit := func(lines []logLine) bool {
			for _, l := range lines {
				if !opts.SinceTime.IsZero() && l.at.Before(opts.SinceTime) {
					continue
				}
				if opts.SinceSeconds > 0 && time.Since(l.at) > time.Duration(opts.SinceSeconds)*time.Second {
					continue
				}
				out := l.text
				if opts.Timestamps {
					out = l.at.Format(time.RFC3339Nano) + " " + out
				}
				if opts.LimitBytes > 0 && written+len(out) > opts.LimitBytes {
					out = out[:opts.LimitBytes-written]
				}
				n, err := pw.Write([]byte(out))
				written += n
				if err != nil || (opts.LimitBytes > 0 && written >= opts.LimitBytes) {
					return false
				}
			}
			return true
		}
		lines, size := readLog(path)
		// virtual-kubelet leaves Tail at 0 when tailLines is absent: 0 means every line.
		if opts.Tail > 0 && opts.Tail < len(lines) {
			lines = lines[len(lines)-opts.Tail:]
		}
		if !emit(lines) || !opts.Follow || opts.Previous {
			pw.Close()
			return
		}
		full, _ := readLog(path)
		seen := len(full)
		for {
			select {
			case <-ctx.Done():
				pw.Close()
				return
			case <-time.After(200 * time.Millisecond):
			}
			all, newSize := readLog(path)
			if newSize != size && len(all) > seen {
				if !emit(all[seen:]) {
					pw.Close()
					return
				}
				seen = len(all)
				size = newSize
			}
			if done != nil {
				select {
				case <-done:
					all, _ := readLog(path)
					if len(all) > seen {
						emit(all[seen:])
					}
					pw.Close()
					return
				default:
				}
			}
		}
	}()
	return pr, nil
}

// RunInContainer execs cmd in the container's namespaces (mount, network, UTS, IPC) as its user, with
// its environment: nsenter joins them and execs the command, so busybox applets and exit codes are
// the container's own.
func (p *Provider) RunInContainer(ctx context.Context, ns, name, container string, cmd []string, attach api.AttachIO) error {
	ps, err := p.lookup(ns, name)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	var c *ctrState
	for _, x := range ps.ctrs {
		if x.spec.Name == container {
			c = x
		}
	}
	if c == nil {
		ps.mu.Unlock()
		return errdefs.NotFoundf("container %q not found in pod %s/%s", container, ns, name)
	}
	pid, uid, gid, env := c.pid, c.uid, c.gid, c.env
	dir := c.spec.WorkingDir
	running := c.state.Running != nil
	ps.mu.Unlock()
	if pid == 0 || !running {
		return errdefs.InvalidInputf("container %q in pod %s/%s is not running", container, ns, name)
	}
	if len(cmd) == 0 {
		return errdefs.InvalidInput("no command given")
	}
	if dir == "" {
		dir = "/"
	}
	args := []string{"--target", strconv.Itoa(pid), "--mount", "--net", "--uts", "--ipc",
		"--setuid", strconv.Itoa(uid), "--setgid", strconv.Itoa(gid), "--wd=" + dir, "--"}
	args = append(args, cmd...)
	ex := exec.CommandContext(ctx, "nsenter", args...)
	ex.Env = env
	if in := attach.Stdin(); in != nil {
		ex.Stdin = in
	}
	if out := attach.Stdout(); out != nil {
		ex.Stdout = out
	}
	if errw := attach.Stderr(); errw != nil {
		ex.Stderr = errw
	} else if attach.TTY() {
		ex.Stderr = attach.Stdout()
	}
	err = ex.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := exitCode(ee.ProcessState, err)
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return err
}

func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by the lab node; use exec")
}

func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errdefs.InvalidInput("port-forward is not supported by the lab node")
}

func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: p.cfg.NodeName, StartTime: metav1.Now()}}, nil
}

func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

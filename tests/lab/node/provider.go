package main

// The virtual-kubelet provider: a pod is a network namespace (network.go) with a pause process holding
// its UTS and IPC namespaces; a container is a process started in those namespaces with a mount
// namespace of its own (container.go). Status is pushed to virtual-kubelet through NotifyPods whenever
// something changes.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type Config struct {
	NodeName      string
	ImagesDir     string
	StateDir      string
	ClusterDNS    string
	ClusterDomain string
	NginxDir      string // html/ and mime.types
	Self          string // this executable
}

type Provider struct {
	cfg *Config
	net *Network

	mu     sync.Mutex
	pods   map[string]*podState // namespace/name
	index  int
	notify func(*corev1.Pod)
}

type podState struct {
	p        *Provider
	mu       sync.Mutex
	pushMu   sync.Mutex // serialises status deliveries (push)
	pod      *corev1.Pod
	index    int
	ip       net.IP
	dir      string
	pause    *exec.Cmd
	ctrs     []*ctrState
	inits    []*ctrState
	initOK   bool
	started  metav1.Time
	deleted  bool
	gone     bool // namespace and processes removed
	failed   string
	message  string
	deadline *time.Timer
}

type ctrState struct {
	spec      corev1.Container
	init      bool
	image     *Image
	imageErr  *ImageError
	cmd       *exec.Cmd
	pid       int
	state     corev1.ContainerState
	last      corev1.ContainerState
	restarts  int32
	id        string
	logPath   string
	backoff   time.Duration
	startedAt time.Time
	done      chan struct{} // closed when the current process has exited
	killed    bool
	uid, gid  int
	env       []string
	pulls     int
}

func NewProvider(cfg *Config, n *Network) *Provider {
	return &Provider{cfg: cfg, net: n, pods: map[string]*podState{}}
}

func key(ns, name string) string { return ns + "/" + name }

// NotifyPods implements node.PodNotifier.
func (p *Provider) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = f
	p.mu.Unlock()
}

func (p *Provider) push(ps *podState) {
	p.mu.Lock()
	f := p.notify
	p.mu.Unlock()
	if f == nil {
		return
	}
	// One delivery at a time per pod, in the order the snapshots are taken: an older status must
	// never arrive after a newer one (nothing else might change for a long time to correct it).
	ps.pushMu.Lock()
	defer ps.pushMu.Unlock()
	ps.mu.Lock()
	pod := ps.snapshot()
	ps.mu.Unlock()
	f(pod)
}

// CreatePod sets up the pod's namespace and starts its containers.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	if old, ok := p.pods[k]; ok && old.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	}
	p.index++
	index := p.index
	p.mu.Unlock()

	ip, err := p.net.Allocate()
	if err != nil {
		return err
	}
	ps := &podState{p: p, pod: pod.DeepCopy(), index: index, ip: ip, started: metav1.Now(),
		dir: filepath.Join(p.cfg.StateDir, "pods", string(pod.UID))}
	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
		p.net.Release(ip)
		return err
	}
	if err := p.net.AddPod(index, ip); err != nil {
		p.net.Release(ip)
		return fmt.Errorf("pod network: %w", err)
	}
	if err := ps.writeFiles(); err != nil {
		ps.teardown(0)
		return err
	}
	if err := ps.startPause(); err != nil {
		ps.teardown(0)
		return err
	}
	for _, c := range pod.Spec.InitContainers {
		ps.inits = append(ps.inits, ps.newCtr(c, true))
	}
	for _, c := range pod.Spec.Containers {
		ps.ctrs = append(ps.ctrs, ps.newCtr(c, false))
	}
	p.mu.Lock()
	p.pods[k] = ps
	p.mu.Unlock()
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		ps.deadline = time.AfterFunc(time.Duration(*d)*time.Second, ps.deadlineExceeded)
	}
	log.G(ctx).Infof("pod %s: netns %s, IP %s", k, p.net.PodNS(index), ip)
	go ps.run()
	p.push(ps)
	return nil
}

func (ps *podState) newCtr(c corev1.Container, init bool) *ctrState {
	cs := &ctrState{spec: c, init: init, logPath: filepath.Join(ps.dir, c.Name+".log")}
	cs.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	img, err := ResolveImage(c.Image, ps.p.cfg.ImagesDir)
	if err != nil {
		cs.imageErr = err.(*ImageError)
		if c.ImagePullPolicy == corev1.PullNever && cs.imageErr.Reason == "ErrImagePull" {
			cs.imageErr = &ImageError{"ErrImageNeverPull", fmt.Sprintf(
				"Container image %q is not present with pull policy of Never", c.Image)}
		}
	}
	cs.image = img
	return cs
}

// run starts the init containers one after another, then the containers.
func (ps *podState) run() {
	for _, c := range ps.inits {
		for {
			if !ps.startOrWaitImage(c) {
				return
			}
			<-c.done
			ps.mu.Lock()
			code := c.state.Terminated.ExitCode
			stop := ps.deleted || ps.failed != ""
			policy := ps.pod.Spec.RestartPolicy
			ps.mu.Unlock()
			if stop {
				return
			}
			if code == 0 {
				break
			}
			if policy == corev1.RestartPolicyNever {
				ps.mu.Lock()
				ps.failed = "Failed"
				ps.mu.Unlock()
				ps.p.push(ps)
				return
			}
			if !ps.backOff(c) {
				return
			}
		}
	}
	ps.mu.Lock()
	ps.initOK = true
	ps.mu.Unlock()
	ps.p.push(ps)
	for _, c := range ps.ctrs {
		go ps.supervise(c)
	}
}

// supervise runs one container and restarts it as the pod's restartPolicy says.
func (ps *podState) supervise(c *ctrState) {
	for {
		if !ps.startOrWaitImage(c) {
			return
		}
		<-c.done
		ps.mu.Lock()
		stop := ps.deleted || ps.failed != ""
		code := c.state.Terminated.ExitCode
		policy := ps.pod.Spec.RestartPolicy
		ps.mu.Unlock()
		if stop {
			return
		}
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && code == 0) {
			ps.p.push(ps)
			return
		}
		if !ps.backOff(c) {
			return
		}
	}
}

// backOff waits before a restart (CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min of
// running); false when the pod went away meanwhile.
func (ps *podState) backOff(c *ctrState) bool {
	ps.mu.Lock()
	if time.Since(c.startedAt) > 10*time.Minute {
		c.backoff = 0
	}
	wait := c.backoff
	if c.backoff == 0 {
		c.backoff = 10 * time.Second
	} else if c.backoff < 5*time.Minute {
		c.backoff *= 2
		if c.backoff > 5*time.Minute {
			c.backoff = 5 * time.Minute
		}
	}
	c.last = c.state
	if wait > 0 {
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				wait, c.spec.Name, ps.pod.Name, ps.pod.Namespace, ps.pod.UID)}}
	}
	ps.mu.Unlock()
	ps.p.push(ps)
	if !ps.sleep(wait) {
		return false
	}
	ps.mu.Lock()
	c.restarts++
	ps.mu.Unlock()
	return true
}

func (ps *podState) sleep(d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		ps.mu.Lock()
		stop := ps.deleted || ps.failed != ""
		ps.mu.Unlock()
		if stop {
			return false
		}
		if !time.Now().Before(end) {
			return true
		}
		time.Sleep(min(200*time.Millisecond, time.Until(end)))
	}
}

// startOrWaitImage starts the container, or, for an image the node cannot run, reports
// ErrImagePull / ImagePullBackOff forever (as a kubelet retrying a pull that keeps failing).
func (ps *podState) startOrWaitImage(c *ctrState) bool {
	if c.imageErr != nil {
		backoff := 10 * time.Second
		for {
			ps.mu.Lock()
			c.pulls++
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: c.imageErr.Reason, Message: c.imageErr.Message}}
			ps.mu.Unlock()
			ps.p.push(ps)
			if c.imageErr.Reason == "InvalidImageName" || c.imageErr.Reason == "ErrImageNeverPull" {
				return ps.sleep(1000*time.Hour) && false
			}
			if !ps.sleep(2 * time.Second) {
				return false
			}
			ps.mu.Lock()
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
				Message: fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.spec.Image, c.imageErr.Message)}}
			ps.mu.Unlock()
			ps.p.push(ps)
			if !ps.sleep(backoff) {
				return false
			}
			backoff = min(2*backoff, 5*time.Minute)
		}
	}
	if msg := ps.configError(c); msg != "" {
		ps.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: msg}}
		ps.mu.Unlock()
		ps.p.push(ps)
		ps.sleep(1000 * time.Hour)
		return false
	}
	if err := ps.start(c); err != nil {
		ps.mu.Lock()
		c.done = make(chan struct{})
		close(c.done)
		now := metav1.Now()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: metav1.Unix(0, 0), FinishedAt: now,
			ContainerID: c.id}}
		ps.mu.Unlock()
		ps.p.push(ps)
	}
	return true
}

// configError is what a kubelet refuses before creating the container: runAsNonRoot with uid 0 (the
// images the node runs all run as root unless told otherwise).
func (ps *podState) configError(c *ctrState) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	psc := ps.podSecurity()
	sc := c.spec.SecurityContext
	nonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	var uid *int64 = psc.RunAsUser
	if uid == nil && c.image != nil {
		uid = c.image.UID
	}
	if sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
	}
	if !nonRoot {
		return ""
	}
	if uid == nil {
		return "container has runAsNonRoot and image will run as root (pod: \"" + ps.pod.Name + "_" + ps.pod.Namespace +
			"(" + string(ps.pod.UID) + ")\", container: " + c.spec.Name + ")"
	}
	if *uid == 0 {
		return "container's runAsUser breaks non-root policy (pod: \"" + ps.pod.Name + "_" + ps.pod.Namespace +
			"(" + string(ps.pod.UID) + ")\", container: " + c.spec.Name + ")"
	}
	return ""
}

func (ps *podState) podSecurity() *corev1.PodSecurityContext {
	if ps.pod.Spec.SecurityContext != nil {
		return ps.pod.Spec.SecurityContext
	}
	return &corev1.PodSecurityContext{}
}

// start launches the container's process in the pod's namespaces.
func (ps *podState) start(c *ctrState) error {
	ps.mu.Lock()
	if ps.deleted {
		ps.mu.Unlock()
		return fmt.Errorf("pod is being deleted")
	}
	psc := ps.podSecurity()
	sc := c.spec.SecurityContext
	uid, gid := int64(0), int64(0)
	if c.image.UID != nil {
		uid, gid = *c.image.UID, *c.image.GID
	}
	if psc.RunAsUser != nil {
		uid = *psc.RunAsUser
	}
	if psc.RunAsGroup != nil {
		gid = *psc.RunAsGroup
	}
	noNewPrivs := false
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	}
	groups := []int{}
	for _, g := range psc.SupplementalGroups {
		groups = append(groups, int(g))
	}
	if psc.FSGroup != nil {
		groups = append(groups, int(*psc.FSGroup))
	}
	img := c.image
	argv, err := containerArgv(c.spec, img, ps.dir)
	ps.mu.Unlock()
	if err != nil {
		return err
	}
	home := "/root"
	if uid != 0 {
		home = "/"
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + ps.hostname(),
		"HOME=" + home,
	}
	for _, e := range c.spec.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	spec := containerSpec{
		Root:       img.Root,
		Argv:       argv,
		Env:        env,
		Dir:        c.spec.WorkingDir,
		UID:        int(uid),
		GID:        int(gid),
		Groups:     groups,
		NoNewPrivs: noNewPrivs,
		Binds: [][2]string{
			{filepath.Join(ps.dir, "resolv.conf"), "/etc/resolv.conf"},
			{filepath.Join(ps.dir, "hosts"), "/etc/hosts"},
			{filepath.Join(ps.dir, "hostname"), "/etc/hostname"},
			{ps.dir, podDirInContainer},
			{ps.p.cfg.NginxDir, nginxDirInContainer},
		},
	}
	raw, _ := json.Marshal(spec)
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer statusR.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		statusW.Close()
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		statusW.Close()
		outR.Close()
		outW.Close()
		return err
	}
	// The container's user may reopen its stdout and stderr (/dev/stdout), as with a runtime's fifos.
	_ = outW.Chown(int(uid), int(gid))
	_ = errW.Chown(int(uid), int(gid))
	cmd := exec.Command("nsenter", "--net="+nsPath(ps.p.net.PodNS(ps.index)),
		fmt.Sprintf("--uts=/proc/%d/ns/uts", ps.pause.Process.Pid),
		fmt.Sprintf("--ipc=/proc/%d/ns/ipc", ps.pause.Process.Pid),
		"--", ps.p.cfg.Self, "container", string(raw))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Setpgid: true}
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.ExtraFiles = []*os.File{statusW}
	if c.spec.Stdin {
		// Keep stdin open (and empty) for the container's life, as `stdin: true` does.
		r, w, err := os.Pipe()
		if err == nil {
			cmd.Stdin = r
			defer r.Close()
			go func(done <-chan struct{}) { <-done; w.Close() }(ps.waitCh(c))
		}
	}
	ps.rotateLog(c)
	err = cmd.Start()
	statusW.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	msg := make([]byte, 4096)
	nread, _ := statusR.Read(msg)
	logs := newLogWriter(c.logPath)
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); logs.copy("stdout", outR) }()
	go func() { defer copies.Done(); logs.copy("stderr", errR) }()
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d/%d", ps.pod.UID, c.spec.Name, c.restarts, time.Now().UnixNano())))
	ps.mu.Lock()
	c.cmd = cmd
	c.pid = cmd.Process.Pid
	c.killed = false
	c.id = "netpol-lab://" + hex.EncodeToString(sum[:])
	c.startedAt = time.Now()
	c.uid, c.gid, c.env = int(uid), int(gid), env
	done := make(chan struct{})
	c.done = done
	if nread > 0 {
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "RunContainerError",
			Message: string(msg[:nread])}}
	} else {
		c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}}
	}
	startErr := nread > 0
	ps.mu.Unlock()
	ps.p.push(ps)
	go func() {
		err := cmd.Wait()
		copies.Wait()
		logs.close()
		code := exitCode(cmd.ProcessState, err)
		ps.mu.Lock()
		now := metav1.Now()
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		if startErr {
			reason = "StartError"
		}
		t := &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason,
			StartedAt: metav1.NewTime(c.startedAt), FinishedAt: now, ContainerID: c.id}
		if startErr {
			t.Message = string(msg[:nread])
			t.StartedAt = metav1.Unix(0, 0)
		}
		c.state = corev1.ContainerState{Terminated: t}
		c.pid = 0
		ps.mu.Unlock()
		close(done)
		ps.p.push(ps)
	}()
	return nil
}

func (ps *podState) waitCh(c *ctrState) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for {
			ps.mu.Lock()
			d := c.done
			ps.mu.Unlock()
			if d != nil {
				<-d
				close(ch)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return ch
}

func exitCode(st *os.ProcessState, err error) int {
	if st == nil {
		return 128
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// containerArgv is the image's entrypoint/cmd combined with the pod's command/args, as a runtime does.
func containerArgv(c corev1.Container, img *Image, dir string) ([]string, error) {
	var argv []string
	switch {
	case len(c.Command) > 0:
		argv = append(append(argv, c.Command...), c.Args...)
	case len(c.Args) > 0:
		argv = append(argv, c.Args...)
	default:
		argv = append(argv, img.DefaultCmd...)
	}
	if img.Nginx && len(argv) > 0 && (argv[0] == "nginx" || argv[0] == "nginx-debug" || argv[0] == "/usr/sbin/nginx") {
		name := "nginx-" + c.Name + ".conf"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(nginxConf(img.NginxPort)), 0o644); err != nil {
			return nil, err
		}
		rest := argv[1:]
		argv = append([]string{"nginx", "-c", podDirInContainer + "/" + name, "-e", "stderr"}, rest...)
	}
	return argv, nil
}

// Where the pod's directory (read-only) and nginx's html and mime.types appear inside containers.
const (
	podDirInContainer   = "/run/netpol-lab/pod"
	nginxDirInContainer = "/run/netpol-lab/nginx"
)

// nginxConf mirrors the image's /etc/nginx/nginx.conf and conf.d/default.conf; the temp paths are in the
// container's private /tmp because the rest of its filesystem is read-only.
func nginxConf(port int) string {
	return fmt.Sprintf(`user nobody nogroup;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    include /run/netpol-lab/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log /dev/stdout main;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path /tmp/client_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;
    server {
        listen %d;
        server_name localhost;
        location / {
            root /run/netpol-lab/nginx/html;
            index index.html index.htm;
        }
        error_page 500 502 503 504 /50x.html;
        location = /50x.html {
            root /run/netpol-lab/nginx/html;
        }
    }
}
`, port)
}

func (ps *podState) hostname() string {
	if ps.pod.Spec.Hostname != "" {
		return ps.pod.Spec.Hostname
	}
	return ps.pod.Name
}

// writeFiles writes the pod's resolv.conf, hosts and hostname, as the kubelet does.
func (ps *podState) writeFiles() error {
	pod := ps.pod
	domain := ps.p.cfg.ClusterDomain
	var resolv strings.Builder
	var servers, searches, options []string
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
	case corev1.DNSDefault:
		data, _ := os.ReadFile("/etc/resolv.conf")
		resolv.Write(data)
	default: // ClusterFirst (and ClusterFirstWithHostNet: pods never use the host network here)
		servers = []string{ps.p.cfg.ClusterDNS}
		searches = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	if len(searches) > 0 {
		fmt.Fprintf(&resolv, "search %s\n", strings.Join(searches, " "))
	}
	for _, s := range servers {
		if s != "" {
			fmt.Fprintf(&resolv, "nameserver %s\n", s)
		}
	}
	if len(options) > 0 {
		fmt.Fprintf(&resolv, "options %s\n", strings.Join(options, " "))
	}
	host := ps.hostname()
	fqdn := host
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", host, pod.Spec.Subdomain, pod.Namespace, domain, host)
	}
	var hosts strings.Builder
	hosts.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	fmt.Fprintf(&hosts, "%s\t%s\n", ps.ip, fqdn)
	for _, a := range pod.Spec.HostAliases {
		fmt.Fprintf(&hosts, "\n# Entries added by HostAliases.\n%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	files := map[string]string{"resolv.conf": resolv.String(), "hosts": hosts.String(), "hostname": host + "\n"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ps.dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (ps *podState) startPause() error {
	cmd := exec.Command("nsenter", "--net="+nsPath(ps.p.net.PodNS(ps.index)), "--", ps.p.cfg.Self, "pause", ps.hostname())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	ps.pause = cmd
	go func() { _ = cmd.Wait() }()
	// nsenter execs the pause command in place; wait until it has (its uts namespace is then final).
	for i := 0; i < 100; i++ {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		if exe == ps.p.cfg.Self {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("pause process did not start")
}

func (ps *podState) deadlineExceeded() {
	ps.mu.Lock()
	if ps.deleted || ps.failed != "" {
		ps.mu.Unlock()
		return
	}
	ps.failed = "DeadlineExceeded"
	ps.message = fmt.Sprintf("Pod was active on the node longer than the specified deadline")
	ps.mu.Unlock()
	ps.killAll(0)
	ps.p.push(ps)
}

// killAll stops every container: SIGTERM, then SIGKILL after grace; then anything else still in the
// pod's network namespace (children that left the process group, exec sessions).
func (ps *podState) killAll(grace time.Duration) {
	ps.mu.Lock()
	var waits []chan struct{}
	for _, c := range append(append([]*ctrState{}, ps.inits...), ps.ctrs...) {
		if c.pid > 0 && c.done != nil {
			c.killed = true
			_ = syscall.Kill(-c.pid, syscall.SIGTERM)
			waits = append(waits, c.done)
		}
	}
	ps.mu.Unlock()
	deadline := time.After(grace)
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
		}
	}
	ps.mu.Lock()
	for _, c := range append(append([]*ctrState{}, ps.inits...), ps.ctrs...) {
		if c.pid > 0 {
			_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		}
	}
	ps.mu.Unlock()
	if ino, err := netnsInode(ps.p.net.PodNS(ps.index)); err == nil {
		for round := 0; round < 20; round++ {
			pids := ProcessesIn(map[uint64]bool{ino: true})
			var others []int
			for _, pid := range pids {
				if ps.pause != nil && pid == ps.pause.Process.Pid {
					continue
				}
				others = append(others, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			if len(others) == 0 {
				break
			}
			waitGone(others)
		}
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-time.After(5 * time.Second):
		}
	}
}

func waitGone(pids []int) {
	for i := 0; i < 50; i++ {
		alive := false
		for _, pid := range pids {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				f := strings.Fields(string(st))
				if len(f) > 2 && f[2] != "Z" {
					alive = true
				}
			}
		}
		if !alive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// teardown removes the pause process, the namespace (and veth) and releases the IP.
func (ps *podState) teardown(grace time.Duration) {
	ps.killAll(grace)
	if ps.pause != nil && ps.pause.Process != nil {
		_ = syscall.Kill(ps.pause.Process.Pid, syscall.SIGKILL)
	}
	if ino, err := netnsInode(ps.p.net.PodNS(ps.index)); err == nil {
		pids := ProcessesIn(map[uint64]bool{ino: true})
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(pids)
	}
	ps.p.net.DelPod(ps.index)
	ps.p.net.Release(ps.ip)
	_ = os.RemoveAll(ps.dir)
	ps.mu.Lock()
	ps.gone = true
	ps.mu.Unlock()
}

// DeletePod stops the pod in the background; virtual-kubelet deletes it from the API once the pod's
// status says every container has terminated.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	ps, ok := p.pods[k]
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("pod %s is not on this node", k)
	}
	ps.mu.Lock()
	if ps.deleted {
		ps.mu.Unlock()
		return nil
	}
	ps.deleted = true
	if ps.deadline != nil {
		ps.deadline.Stop()
	}
	ps.mu.Unlock()
	grace := 30 * time.Second
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	go func() {
		ps.teardown(min(grace, 10*time.Second))
		p.mu.Lock()
		if cur, ok := p.pods[k]; ok && cur == ps {
			delete(p.pods, k)
		}
		p.mu.Unlock()
		log.G(ctx).Infof("pod %s: stopped, namespace %s removed", k, p.net.PodNS(ps.index))
		p.push(ps)
	}()
	return nil
}

// Shutdown stops every pod (the node is stopping).
func (p *Provider) Shutdown() {
	p.mu.Lock()
	var all []*podState
	for _, ps := range p.pods {
		all = append(all, ps)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, ps := range all {
		ps.mu.Lock()
		ps.deleted = true
		ps.mu.Unlock()
		wg.Add(1)
		go func(ps *podState) { defer wg.Done(); ps.teardown(2 * time.Second) }(ps)
	}
	wg.Wait()
}

// UpdatePod takes the new spec; a changed image restarts that container (the only container change
// the API server allows besides activeDeadlineSeconds).
func (p *Provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	ps, ok := p.pods[k]
	p.mu.Unlock()
	if !ok {
		return p.CreatePod(ctx, pod)
	}
	ps.mu.Lock()
	old := ps.pod
	ps.pod = pod.DeepCopy()
	ps.pod.Status = old.Status
	var restart []*ctrState
	for _, c := range ps.ctrs {
		for _, nc := range pod.Spec.Containers {
			if nc.Name == c.spec.Name && nc.Image != c.spec.Image {
				c.spec = nc
				fresh := ps.newCtr(nc, false)
				c.image, c.imageErr = fresh.image, fresh.imageErr
				restart = append(restart, c)
			}
		}
	}
	ps.mu.Unlock()
	for _, c := range restart {
		ps.mu.Lock()
		if c.pid > 0 {
			_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		}
		ps.mu.Unlock()
	}
	p.push(ps)
	return nil
}

func (p *Provider) lookup(ns, name string) (*podState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.pods[key(ns, name)]
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", ns, name)
	}
	return ps, nil
}

func (p *Provider) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	ps, err := p.lookup(ns, name)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.snapshot(), nil
}

func (p *Provider) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *Provider) GetPods(_ context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	all := make([]*podState, 0, len(p.pods))
	for _, ps := range p.pods {
		all = append(all, ps)
	}
	p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(all))
	for _, ps := range all {
		ps.mu.Lock()
		pods = append(pods, ps.snapshot())
		ps.mu.Unlock()
	}
	sort.Slice(pods, func(i, j int) bool {
		return key(pods[i].Namespace, pods[i].Name) < key(pods[j].Namespace, pods[j].Name)
	})
	return pods, nil
}

func (c *ctrState) status(ps *podState) corev1.ContainerStatus {
	st := corev1.ContainerStatus{
		Name:                 c.spec.Name,
		Image:                c.spec.Image,
		ImageID:              "",
		State:                c.state,
		LastTerminationState: c.last,
		RestartCount:         c.restarts,
		ContainerID:          "",
	}
	if c.image != nil {
		st.Image = canonical(c.spec.Image)
		st.ImageID = imageID(c.image)
	}
	if c.state.Running != nil || c.state.Terminated != nil {
		st.ContainerID = c.id
	}
	started := c.state.Running != nil
	st.Started = &started
	st.Ready = c.state.Running != nil && !ps.deleted
	return st
}

var imageIDs sync.Map

// imageID is a digest of what the node really runs for the image (its bin directory's busybox/nginx).
func imageID(img *Image) string {
	if v, ok := imageIDs.Load(img.Root); ok {
		return v.(string)
	}
	h := sha256.New()
	for _, name := range []string{"busybox", "nginx"} {
		if data, err := os.ReadFile(filepath.Join(img.Root, "bin", name)); err == nil {
			h.Write(data)
		}
	}
	name := canonical(img.Ref)
	if i := strings.LastIndexAny(name, ":@"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	id := name + "@sha256:" + hex.EncodeToString(h.Sum(nil))
	imageIDs.Store(img.Root, id)
	return id
}

// snapshot is the pod with its current status; callers hold ps.mu.
func (ps *podState) snapshot() *corev1.Pod {
	pod := ps.pod.DeepCopy()
	now := metav1.Now()
	st := corev1.PodStatus{
		HostIP:    ps.p.net.Gateway.String(), // the node's InternalIP
		HostIPs:   []corev1.HostIP{{IP: ps.p.net.Gateway.String()}},
		PodIP:     ps.ip.String(),
		PodIPs:    []corev1.PodIP{{IP: ps.ip.String()}},
		StartTime: &ps.started,
		QOSClass:  qosClass(pod),
	}
	for _, c := range ps.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status(ps))
	}
	running, waiting, succeeded, failed, restarting := 0, 0, 0, 0, 0
	allReady := len(ps.ctrs) > 0
	for _, c := range ps.ctrs {
		cs := c.status(ps)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
		}
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			if c.state.Terminated.ExitCode == 0 {
				succeeded++
			} else {
				failed++
			}
		case c.last.Terminated != nil:
			restarting++
		default:
			waiting++
		}
	}
	policy := pod.Spec.RestartPolicy
	switch {
	case ps.failed != "":
		st.Phase = corev1.PodFailed
		if ps.failed != "Failed" {
			st.Reason = ps.failed
			st.Message = ps.message
		}
	case !ps.initOK || waiting > 0:
		st.Phase = corev1.PodPending
	case running > 0 || restarting > 0:
		st.Phase = corev1.PodRunning
	case policy == corev1.RestartPolicyAlways:
		st.Phase = corev1.PodRunning
	case failed > 0 && policy == corev1.RestartPolicyNever:
		st.Phase = corev1.PodFailed
	case failed > 0:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodSucceeded
	}
	if ps.gone {
		// Deleted: every container is terminated.
		for i := range st.ContainerStatuses {
			cs := &st.ContainerStatuses[i]
			if cs.State.Terminated == nil {
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "Error", FinishedAt: now, ContainerID: cs.ContainerID}}
			}
			cs.Ready = false
			f := false
			cs.Started = &f
		}
		allReady = false
		if st.Phase == corev1.PodRunning || st.Phase == corev1.PodPending {
			st.Phase = corev1.PodFailed
		}
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: ps.started}
		if ok {
			c.Status = corev1.ConditionTrue
		} else {
			c.Reason = reason
		}
		return c
	}
	ready := allReady && st.Phase == corev1.PodRunning
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, !ps.gone, ""),
		cond(corev1.PodInitialized, ps.initOK, "ContainersNotInitialized"),
		cond(corev1.PodReady, ready, "ContainersNotReady"),
		cond(corev1.ContainersReady, ready, "ContainersNotReady"),
		cond(corev1.PodScheduled, true, ""),
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		for i := range st.Conditions {
			if st.Conditions[i].Type == corev1.PodReady || st.Conditions[i].Type == corev1.ContainersReady {
				st.Conditions[i].Reason = "PodCompleted"
			}
		}
	}
	pod.Status = st
	return pod
}

func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits, guaranteed := 0, 0, true
	for _, c := range pod.Spec.Containers {
		requests += len(c.Resources.Requests)
		limits += len(c.Resources.Limits)
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			l, okL := c.Resources.Limits[r]
			q, okQ := c.Resources.Requests[r]
			if !okL || (okQ && q.Cmp(l) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case requests == 0 && limits == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

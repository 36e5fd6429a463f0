package main

// The two helper commands the node starts through nsenter (which joins the pod's network, UTS and IPC
// namespaces; the node itself stays in the host's namespaces):
//
//	pause HOSTNAME        holds the pod's UTS and IPC namespaces (started with CLONE_NEWUTS|CLONE_NEWIPC)
//	container SPEC_JSON   prepares the container's own mount namespace (started with CLONE_NEWNS) and
//	                      execs the container's program, which keeps the pid
//
// A container's filesystem is the host's, read-only, with the image's bin/ mounted over /usr/bin and
// /usr/sbin, an empty /usr/local, a private /tmp (tmpfs) and the pod's own /etc/resolv.conf,
// /etc/hosts and /etc/hostname. Start errors are written to fd 3 (closed on exec), so the node can tell
// "could not start" (RunContainerError) from "started and exited".

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

type containerSpec struct {
	Root       string      `json:"root"`
	Binds      [][2]string `json:"binds"`
	Argv       []string    `json:"argv"`
	Env        []string    `json:"env"`
	Dir        string      `json:"dir"`
	UID        int         `json:"uid"`
	GID        int         `json:"gid"`
	Groups     []int       `json:"groups"`
	NoNewPrivs bool        `json:"noNewPrivs"`
}

func pauseMain(args []string) {
	if len(args) == 1 {
		_ = unix.Sethostname([]byte(args[0]))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	os.Exit(0)
}

func containerMain(args []string) {
	// Credentials are set on this thread right before exec: stay on it.
	runtime.LockOSThread()
	status := os.NewFile(3, "status")
	fail := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if status != nil {
			_, _ = status.WriteString(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(128)
	}
	if len(args) != 1 {
		fail("container: expected one JSON argument")
	}
	var spec containerSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		fail("container: bad spec: %v", err)
	}
	if err := setupMounts(&spec); err != nil {
		fail("failed to create containerd task: failed to create shim task: OCI runtime create failed: %v", err)
	}
	path, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		fail("failed to create containerd task: failed to create shim task: OCI runtime create failed: "+
			"runc create failed: unable to start container process: exec: %q: %v", spec.Argv[0], err)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		fail("failed to create containerd task: failed to create shim task: OCI runtime create failed: "+
			"runc create failed: unable to start container process: chdir to cwd (%q) set in config.json failed: %v", dir, err)
	}
	if err := unix.Setgroups(spec.Groups); err != nil {
		fail("setgroups: %v", err)
	}
	if err := unix.Setresgid(spec.GID, spec.GID, spec.GID); err != nil {
		fail("setgid: %v", err)
	}
	if err := unix.Setresuid(spec.UID, spec.UID, spec.UID); err != nil {
		fail("setuid: %v", err)
	}
	if spec.NoNewPrivs {
		_ = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	}
	unix.CloseOnExec(3)
	err = unix.Exec(path, spec.Argv, spec.Env)
	fail("failed to create containerd task: exec %q: %v", path, err)
}

func setupMounts(spec *containerSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	bindRO := func(src, dst string) error {
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, dst, err)
		}
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", dst, err)
		}
		return nil
	}
	if spec.Root != "" {
		bin := filepath.Join(spec.Root, "bin")
		for _, dst := range []string{"/usr/bin", "/usr/sbin"} {
			if err := bindRO(bin, dst); err != nil {
				return err
			}
		}
		if err := unix.Mount("tmpfs", "/usr/local", "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "size=4k,mode=755"); err != nil {
			return fmt.Errorf("mount empty /usr/local: %w", err)
		}
	}
	// Private /tmp and /run; /run/netpol-lab/* are where the node's files (the pod's directory,
	// nginx's html) appear, whatever the permissions of the directories above them on the host.
	// /tmp comes last: the node's files may live under the host's /tmp.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=755"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	for _, b := range spec.Binds {
		if strings.HasPrefix(b[1], "/run/") {
			if err := os.MkdirAll(b[1], 0o755); err != nil {
				return err
			}
		}
		if err := bindRO(b[0], b[1]); err != nil {
			return err
		}
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64m,mode=1777"); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	// The rest of the host's filesystem is read-only for the container.
	if err := unix.Mount("/", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if strings.HasPrefix(env[i], key+"=") {
			return env[i][len(key)+1:]
		}
	}
	return ""
}

func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if st, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("stat %s: no such file or directory", name)
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("permission denied")
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file not found in $PATH")
}

package main

// The lab's network: one "node" network namespace holding the bridge, and one network namespace per
// pod with a veth into that bridge. Nothing is created in the host's namespace: the node namespace has
// no uplink, so pod traffic can only reach other pods of this lab (and, later, whatever Services, DNS or
// NetworkPolicy components the lab runs inside the node namespace).
//
// Layout (defaults):
//
//	netns <prefix>node   bridge cbr0 = first address of the pod CIDR (10.244.0.1/24), ip_forward=1,
//	                     net.bridge.bridge-nf-call-iptables=1: bridged pod-to-pod traffic crosses the
//	                     node namespace's iptables FORWARD chain, where kube-proxy's and a
//	                     NetworkPolicy controller's rules go.
//	netns <prefix>p<N>   eth0 = pod IP/24, default route via the bridge address; lo up.
//	                     veth peer "vp<N>" in the node namespace, enslaved to cbr0.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const netnsDir = "/run/netns"

// Network owns the namespaces, bridge and veths of one lab node.
type Network struct {
	Prefix  string // netns name prefix, e.g. "netpol-lab-ab12-"
	CIDR    *net.IPNet
	Gateway net.IP
	Bridge  string

	mu   sync.Mutex
	used map[string]bool // pod IPs in use
	next int             // host index to try first (so a freed IP is not reused at once)
}

func NewNetwork(prefix, cidr string) (*Network, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("--pod-cidr: %w", err)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("--pod-cidr must be an IPv4 CIDR, got %s", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if bits-ones < 3 || bits-ones > 16 {
		return nil, fmt.Errorf("--pod-cidr must be between /16 and /29, got %s", cidr)
	}
	return &Network{
		Prefix:  prefix,
		CIDR:    ipnet,
		Gateway: nthIP(ipnet, 1),
		Bridge:  "cbr0",
		used:    map[string]bool{},
		next:    2,
	}, nil
}

func (n *Network) NodeNS() string { return n.Prefix + "node" }

func (n *Network) PodNS(index int) string { return n.Prefix + "p" + strconv.Itoa(index) }

func nsPath(name string) string { return filepath.Join(netnsDir, name) }

func nthIP(ipnet *net.IPNet, i int) net.IP {
	base := ipnet.IP.To4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(i)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (n *Network) size() int {
	ones, bits := n.CIDR.Mask.Size()
	return 1 << (bits - ones)
}

// Allocate returns a free pod IP (the network and broadcast addresses and the gateway are never given).
func (n *Network) Allocate() (net.IP, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	size := n.size()
	for tries := 0; tries < size; tries++ {
		i := n.next
		n.next++
		if n.next >= size-1 {
			n.next = 2
		}
		if i < 2 || i >= size-1 {
			continue
		}
		ip := nthIP(n.CIDR, i)
		if !n.used[ip.String()] {
			n.used[ip.String()] = true
			return ip, nil
		}
	}
	return nil, fmt.Errorf("pod CIDR %s is exhausted", n.CIDR)
}

func (n *Network) Release(ip net.IP) {
	if ip == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.used, ip.String())
}

func runCmd(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// sysctl writes a sysctl inside a network namespace (ip netns exec mounts that namespace's /sys and
// /proc/sys/net is per network namespace).
func sysctl(ns, key, value string) error {
	return runCmd("ip", "netns", "exec", ns, "sh", "-c",
		fmt.Sprintf("echo '%s' > /proc/sys/%s", value, strings.ReplaceAll(key, ".", "/")))
}

// Setup creates the node namespace and its bridge.
func (n *Network) Setup() error {
	ns := n.NodeNS()
	ones, _ := n.CIDR.Mask.Size()
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "link", "add", n.Bridge, "type", "bridge"},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", n.Gateway, ones), "dev", n.Bridge},
		{"ip", "-n", ns, "link", "set", n.Bridge, "up"},
	}
	for _, s := range steps {
		if err := runCmd(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.bridge.bridge-nf-call-iptables", "1"},
		{"net.ipv6.conf.all.disable_ipv6", "1"},
	} {
		if err := sysctl(ns, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// AddPod creates the pod's namespace and its veth into the bridge; eth0 gets ip/prefix.
func (n *Network) AddPod(index int, ip net.IP) error {
	pod := n.PodNS(index)
	node := n.NodeNS()
	ones, _ := n.CIDR.Mask.Size()
	host := "vp" + strconv.Itoa(index)
	steps := [][]string{
		{"ip", "netns", "add", pod},
		{"ip", "-n", pod, "link", "set", "lo", "up"},
		{"ip", "-n", node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", pod},
		{"ip", "-n", node, "link", "set", host, "master", n.Bridge},
		{"ip", "-n", node, "link", "set", host, "up"},
		{"ip", "-n", pod, "addr", "add", fmt.Sprintf("%s/%d", ip, ones), "dev", "eth0"},
		{"ip", "-n", pod, "link", "set", "eth0", "up"},
		{"ip", "-n", pod, "route", "add", "default", "via", n.Gateway.String()},
	}
	for _, s := range steps {
		if err := runCmd(s[0], s[1:]...); err != nil {
			n.DelPod(index)
			return err
		}
	}
	// As containerd does for pods: any user may bind low ports and ping inside the pod.
	for _, kv := range [][2]string{
		{"net.ipv4.ip_unprivileged_port_start", "0"},
		{"net.ipv4.ping_group_range", "0 2147483647"},
		{"net.ipv6.conf.all.disable_ipv6", "1"},
	} {
		if err := sysctl(pod, kv[0], kv[1]); err != nil {
			n.DelPod(index)
			return err
		}
	}
	// Hairpin: a pod reaching itself through a Service comes back through its own bridge port.
	_ = runCmd("ip", "netns", "exec", node, "sh", "-c",
		fmt.Sprintf("echo 1 > /sys/class/net/%s/brport/hairpin_mode", host))
	return nil
}

// DelPod removes the pod's namespace; its veth pair goes with it.
func (n *Network) DelPod(index int) {
	pod := n.PodNS(index)
	_ = runCmd("ip", "-n", n.NodeNS(), "link", "del", "vp"+strconv.Itoa(index))
	if _, err := os.Stat(nsPath(pod)); err == nil {
		_ = runCmd("ip", "netns", "del", pod)
	}
}

// netnsInode is the inode of a named network namespace (what /proc/<pid>/ns/net links to).
func netnsInode(name string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(nsPath(name), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ListNamespaces returns the network namespaces whose name starts with prefix.
func ListNamespaces(prefix string) []string {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// ProcessesIn returns the pids of every process whose network namespace is one of the given inodes.
func ProcessesIn(inodes map[uint64]bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		var ino uint64
		if _, err := fmt.Sscanf(link, "net:[%d]", &ino); err == nil && inodes[ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Sweep kills every process inside the lab's namespaces and deletes the namespaces (the node
// namespace last; deleting it removes the bridge and the veths left in it). It is what the node does
// when it stops, and what `cleanup` does after a node that could not stop cleanly.
func Sweep(prefix string) (killed int, removed []string) {
	names := ListNamespaces(prefix)
	inodes := map[uint64]bool{}
	for _, name := range names {
		if ino, err := netnsInode(name); err == nil {
			inodes[ino] = true
		}
	}
	for round := 0; round < 20 && len(inodes) > 0; round++ {
		pids := ProcessesIn(inodes)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil && round == 0 {
				killed++
			}
		}
		waitGone(pids)
	}
	var node string
	for _, name := range names {
		if strings.HasSuffix(name, "node") && name == prefix+"node" {
			node = name
			continue
		}
		if runCmd("ip", "netns", "del", name) == nil {
			removed = append(removed, name)
		}
	}
	if node != "" && runCmd("ip", "netns", "del", node) == nil {
		removed = append(removed, node)
	}
	return killed, removed
}

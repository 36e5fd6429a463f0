// netpol-lab-node: the local lab's one Kubernetes node, on virtual-kubelet. Pods are Linux network
// namespaces on a bridge inside a network namespace of the lab's own; containers run busybox applets
// or nginx from Debian's packages. See tests/fakes/README.md ("The lab node").
//
//	netpol-lab-node run --kubeconfig F --lab-id ID --state-dir D --images-dir I --tls-cert C --tls-key K --client-ca CA
//	netpol-lab-node cleanup --lab-id ID     remove whatever a node of that lab left behind
//	netpol-lab-node leftovers --lab-id ID   list it (exit 1 when anything is left)
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	logruslogger "github.com/virtual-kubelet/virtual-kubelet/log/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Set by build.sh (-ldflags -X).
var (
	version           = "dev"
	kubernetesVersion = "v0.0.0"
)

var labIDPattern = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netpol-lab-node run|cleanup|leftovers|version [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		os.Exit(runMain(os.Args[2:]))
	case "cleanup", "leftovers":
		os.Exit(cleanupMain(os.Args[1], os.Args[2:]))
	case "pause":
		pauseMain(os.Args[2:])
	case "container":
		containerMain(os.Args[2:])
	case "version":
		fmt.Printf("netpol-lab-node %s (virtual-kubelet, reports kubelet %s)\n", version, kubernetesVersion)
	default:
		fmt.Fprintf(os.Stderr, "netpol-lab-node: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func nsPrefix(labID string) string { return "netpol-lab-" + labID + "-" }

func cleanupMain(cmd string, args []string) int {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	labID := fs.String("lab-id", "", "the lab whose namespaces to look for")
	_ = fs.Parse(args)
	if !labIDPattern.MatchString(*labID) {
		fmt.Fprintln(os.Stderr, "--lab-id must be 1-12 lower-case letters or digits")
		return 2
	}
	prefix := nsPrefix(*labID)
	if cmd == "leftovers" {
		names := ListNamespaces(prefix)
		inodes := map[uint64]bool{}
		for _, n := range names {
			if ino, err := netnsInode(n); err == nil {
				inodes[ino] = true
			}
		}
		pids := ProcessesIn(inodes)
		if names == nil {
			names = []string{}
		}
		if pids == nil {
			pids = []int{}
		}
		out, _ := json.Marshal(map[string]any{"namespaces": names, "pids": pids})
		fmt.Println(string(out))
		if len(names) > 0 || len(pids) > 0 {
			return 1
		}
		return 0
	}
	killed, removed := Sweep(prefix)
	fmt.Printf("netpol-lab-node cleanup: %d process(es) killed, namespaces removed: %v\n", killed, removed)
	return 0
}

type runFlags struct {
	kubeconfig, nodeName, labID, podCIDR, clusterDNS, clusterDomain  string
	listen, tlsCert, tlsKey, clientCA, stateDir, imagesDir, infoFile string
}

func runMain(args []string) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	fs.StringVar(&f.nodeName, "node-name", "netpol-lab-node", "name of the Node object")
	fs.StringVar(&f.labID, "lab-id", "", "short id of the lab: network namespaces are netpol-lab-<id>-* (required)")
	fs.StringVar(&f.podCIDR, "pod-cidr", "10.244.0.0/24", "pod addresses; the first one is the bridge's")
	fs.StringVar(&f.clusterDNS, "cluster-dns", "10.0.0.10", "nameserver in pods' resolv.conf (dnsPolicy ClusterFirst)")
	fs.StringVar(&f.clusterDomain, "cluster-domain", "cluster.local", "cluster domain")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:10250", "kubelet API address (127.0.0.1 only)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "kubelet serving certificate (required)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "kubelet serving key (required)")
	fs.StringVar(&f.clientCA, "client-ca", "", "CA whose client certificates may use the kubelet API (required)")
	fs.StringVar(&f.stateDir, "state-dir", "", "pods' files and logs (required)")
	fs.StringVar(&f.imagesDir, "images-dir", "", "image roots built by build.sh (default: ../images next to this binary)")
	fs.StringVar(&f.infoFile, "info-file", "", "written as JSON once the node is Ready")
	_ = fs.Parse(args)
	if err := run(f); err != nil {
		fmt.Fprintf(os.Stderr, "netpol-lab-node: %v\n", err)
		return 1
	}
	return 0
}

func run(f runFlags) error {
	for name, v := range map[string]string{"--kubeconfig": f.kubeconfig, "--tls-cert": f.tlsCert, "--tls-key": f.tlsKey,
		"--client-ca": f.clientCA, "--state-dir": f.stateDir} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	if !labIDPattern.MatchString(f.labID) {
		return fmt.Errorf("--lab-id must be 1-12 lower-case letters or digits, got %q", f.labID)
	}
	host, portStr, err := net.SplitHostPort(f.listen)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("--listen must be 127.0.0.1:<port>, got %q", f.listen)
	}
	port, _ := strconv.Atoi(portStr)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if f.imagesDir == "" {
		f.imagesDir = filepath.Join(filepath.Dir(self), "..", "images")
	}
	for _, img := range []string{"busybox", "nginx", "nginx-alpine"} {
		if _, err := os.Stat(filepath.Join(f.imagesDir, img, "bin")); err != nil {
			return fmt.Errorf("image root %s/%s/bin is missing: run tests/lab/node/build.sh", f.imagesDir, img)
		}
	}
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		return err
	}

	// What the node writes for its pods (resolv.conf, hosts, nginx's configuration) must be readable by
	// the containers' users, whatever umask the node was started with (the lab starts it with 077).
	syscall.Umask(0o022)

	logger := logrus.StandardLogger()
	logger.SetLevel(logrus.InfoLevel)
	log.L = logruslogger.FromLogrus(logrus.NewEntry(logger))
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	prefix := nsPrefix(f.labID)
	if left := ListNamespaces(prefix); len(left) > 0 {
		killed, removed := Sweep(prefix)
		log.G(ctx).Warnf("removed what an earlier node of this lab left: %d process(es), namespaces %v", killed, removed)
	}
	network, err := NewNetwork(prefix, f.podCIDR)
	if err != nil {
		return err
	}
	if err := network.Setup(); err != nil {
		Sweep(prefix)
		return fmt.Errorf("node network: %w", err)
	}
	defer func() {
		killed, removed := Sweep(prefix)
		log.G(context.Background()).Infof("stopped: %d process(es) killed, namespaces removed: %v", killed, removed)
	}()

	restCfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	cfg := &Config{NodeName: f.nodeName, ImagesDir: f.imagesDir, StateDir: f.stateDir,
		ClusterDNS: f.clusterDNS, ClusterDomain: f.clusterDomain, Self: self,
		NginxDir: filepath.Join(f.imagesDir, "..", "nginx")}
	provider := NewProvider(cfg, network)
	defer provider.Shutdown()

	caPEM, err := os.ReadFile(f.clientCA)
	if err != nil {
		return fmt.Errorf("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("--client-ca %s holds no PEM certificate", f.clientCA)
	}
	mux := http.NewServeMux()
	n, err := nodeutil.NewNode(f.nodeName,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			configureNode(pc.Node, f, port, network.Gateway.String())
			return provider, nil, nil
		},
		nodeutil.WithClient(client),
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithTLSConfig(
			nodeutil.WithKeyPairFromPath(f.tlsCert, f.tlsKey),
			nodeutil.WithCAFromPath(f.clientCA),
		),
		func(c *nodeutil.NodeConfig) error {
			c.HTTPListenAddr = f.listen
			c.NumWorkers = 4
			c.InformerResyncPeriod = time.Minute
			c.Handler = nodeutil.WithAuth(certAuth(pool, f.nodeName), mux)
			return nil
		},
	)
	if err != nil {
		return err
	}
	go func() { _ = n.Run(ctx) }()
	if err := n.WaitReady(ctx, 2*time.Minute); err != nil {
		return fmt.Errorf("node did not become ready: %w", err)
	}
	log.G(ctx).Infof("node %s ready: kubelet API on %s, pods in %s (bridge %s in netns %s)",
		f.nodeName, f.listen, f.podCIDR, network.Bridge, network.NodeNS())
	if f.infoFile != "" {
		info := map[string]any{
			"pid": os.Getpid(), "node": f.nodeName, "kubelet": "https://" + f.listen,
			"node_netns": network.NodeNS(), "netns_prefix": prefix, "bridge": network.Bridge,
			"pod_cidr": f.podCIDR, "gateway": network.Gateway.String(), "cluster_dns": f.clusterDNS,
		}
		data, _ := json.MarshalIndent(info, "", "  ")
		tmp := f.infoFile + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.infoFile); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case <-n.Done():
		if err := n.Err(); err != nil && ctx.Err() == nil {
			return err
		}
	}
	log.G(context.Background()).Info("stopping: removing pods and namespaces")
	return nil
}

// certAuth: a client certificate signed by the cluster CA (the API server's kubelet client
// certificate) may use every kubelet API route; the TLS listener already requires and verifies one.
type certAuthz struct {
	authenticator.Request
	nodeutil.NodeRequestAttr
	authorizer.Authorizer
}

func certAuth(pool *x509.CertPool, nodeName string) nodeutil.Auth {
	opts := x509request.DefaultVerifyOptions()
	opts.Roots = pool
	return &certAuthz{
		Request:         x509request.New(opts, x509request.CommonNameUserConversion),
		NodeRequestAttr: nodeutil.NodeRequestAttr{NodeName: nodeName},
		Authorizer:      authorizerfactory.NewAlwaysAllowAuthorizer(),
	}
}

func configureNode(nd *corev1.Node, f runFlags, port int, gateway string) {
	nd.Labels["kubernetes.io/os"] = "linux"
	nd.Labels["kubernetes.io/arch"] = "amd64"
	nd.Labels["node.kubernetes.io/instance-type"] = "netpol-lab"
	nd.Labels["type"] = "netpol-lab-node"
	delete(nd.Labels, "kubernetes.io/role")
	nd.Spec.PodCIDR = f.podCIDR
	nd.Spec.PodCIDRs = []string{f.podCIDR}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}
	nd.Status.Capacity = res
	nd.Status.Allocatable = res.DeepCopy()
	// InternalIP: the node's address on the pod network (the bridge, inside the node namespace), as a
	// real node's is on its own network; kube-proxy and kube-router take the node's IP from it.
	// ExternalIP: where the API server reaches the kubelet API (the host's 127.0.0.1; the control
	// plane runs with --kubelet-preferred-address-types=ExternalIP).
	nd.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: gateway},
		{Type: corev1.NodeExternalIP, Address: "127.0.0.1"},
		{Type: corev1.NodeHostName, Address: f.nodeName},
	}
	nd.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}
	nd.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:          kubernetesVersion,
		OperatingSystem:         "linux",
		Architecture:            "amd64",
		ContainerRuntimeVersion: "netpol-lab-node://" + version,
		OSImage:                 "netpol.aks lab node (network namespaces, virtual-kubelet)",
	}
	now := metav1.Now()
	nd.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated", LastHeartbeatTime: now, LastTransitionTime: now},
	}
}

// SPDX-License-Identifier: Apache-2.0

// kubelet-standin is a stand-in for the kubelet in kerf's tests: it speaks the kubelet's side of the
// device plugin API (Registration server, DevicePlugin client) and serves the pod-resources API, using the
// official k8s.io/kubelet API packages and grpc-go, so kerf's C gRPC is tested against a real peer.
//
// Control: one JSON command per line on stdin; one JSON event per line on stdout (see docs/kubelet.md).
// Times are CLOCK_MONOTONIC nanoseconds, the clock kerf's C side reads, so the two can be compared.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	dp "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	pr "k8s.io/kubelet/pkg/apis/podresources/v1"
)

func monoNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// ---- events ----

var outMu sync.Mutex
var out = json.NewEncoder(os.Stdout)

func emit(ev map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(ev)
}

// ---- state ----

type plugin struct {
	resource string
	conn     *grpc.ClientConn
	client   dp.DevicePluginClient
	cancel   context.CancelFunc
}

type standin struct {
	dir        string
	mu         sync.Mutex
	plugins    map[string]*plugin
	regServer  *grpc.Server
	podres     *pr.ListPodResourcesResponse
	alloc      *pr.AllocatableResourcesResponse
	hammerStop chan struct{}
	hammerWG   sync.WaitGroup
	hammerRes  []hammerResult
}

// ---- Registration service (the kubelet's side) ----

type registration struct {
	dp.UnimplementedRegistrationServer
	s *standin
}

func (r *registration) Register(ctx context.Context, req *dp.RegisterRequest) (*dp.Empty, error) {
	if req.Version != dp.Version {
		return nil, fmt.Errorf("unsupported version %q", req.Version)
	}
	emit(map[string]any{"ev": "register", "resource": req.ResourceName, "endpoint": req.Endpoint,
		"version": req.Version, "preferred": req.Options.GetGetPreferredAllocationAvailable(), "mono_ns": monoNS()})
	// Like the kubelet, dial the plugin back after answering.
	go r.s.connect(req.ResourceName, filepath.Join(r.s.dir, req.Endpoint))
	return &dp.Empty{}, nil
}

func (s *standin) connect(resource, path string) {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		emit(map[string]any{"ev": "error", "resource": resource, "error": err.Error()})
		return
	}
	client := dp.NewDevicePluginClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	p := &plugin{resource: resource, conn: conn, client: client, cancel: cancel}
	s.mu.Lock()
	if old := s.plugins[resource]; old != nil {
		old.cancel()
		old.conn.Close()
	}
	s.plugins[resource] = p
	s.mu.Unlock()

	octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
	opts, err := client.GetDevicePluginOptions(octx, &dp.Empty{})
	ocancel()
	if err != nil {
		emit(map[string]any{"ev": "error", "resource": resource, "error": err.Error()})
		return
	}
	emit(map[string]any{"ev": "options", "resource": resource, "preferred": opts.GetPreferredAllocationAvailable})
	stream, err := client.ListAndWatch(ctx, &dp.Empty{})
	if err != nil {
		emit(map[string]any{"ev": "watch_end", "resource": resource, "error": err.Error()})
		return
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			emit(map[string]any{"ev": "watch_end", "resource": resource, "error": err.Error()})
			return
		}
		now := monoNS()
		devs := []map[string]any{}
		for _, d := range resp.Devices {
			numa := []int64{}
			if d.Topology != nil {
				for _, n := range d.Topology.Nodes {
					numa = append(numa, n.ID)
				}
			}
			devs = append(devs, map[string]any{"id": d.ID, "health": d.Health, "numa": numa})
		}
		emit(map[string]any{"ev": "list", "resource": resource, "devices": devs, "mono_ns": now})
	}
}

// ---- pod-resources service ----

type podresources struct {
	pr.UnimplementedPodResourcesListerServer
	s *standin
}

func (p *podresources) List(ctx context.Context, _ *pr.ListPodResourcesRequest) (*pr.ListPodResourcesResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.podres, nil
}

func (p *podresources) GetAllocatableResources(ctx context.Context, _ *pr.AllocatableResourcesRequest) (*pr.AllocatableResourcesResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.alloc, nil
}

// ---- commands ----

type command struct {
	Op        string   `json:"op"`
	Tag       int      `json:"tag"`
	Resource  string   `json:"resource"`
	IDs       []string `json:"ids"`
	Available []string `json:"available"`
	Must      []string `json:"must"`
	Size      int32    `json:"size"`
	Workers   int      `json:"workers"`
	Method    string   `json:"method"`
	Hex       string   `json:"hex"`
	Bytes     int      `json:"bytes"`
	Pods      []struct {
		Namespace string   `json:"namespace"`
		Name      string   `json:"name"`
		Container string   `json:"container"`
		Resource  string   `json:"resource"`
		IDs       []string `json:"ids"`
		NUMA      int64    `json:"numa"`
	} `json:"pods"`
}

func result(tag int, fields map[string]any) {
	fields["ev"] = "result"
	fields["tag"] = tag
	emit(fields)
}

func errFields(err error) map[string]any {
	st, _ := status.FromError(err)
	return map[string]any{"ok": false, "code": int(st.Code()), "error": st.Message()}
}

func (s *standin) client(resource string) dp.DevicePluginClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.plugins[resource]; p != nil {
		return p.client
	}
	return nil
}

func (s *standin) allocate(c command) {
	cl := s.client(c.Resource)
	if cl == nil {
		result(c.Tag, map[string]any{"ok": false, "error": "no plugin for " + c.Resource})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Allocate(ctx, &dp.AllocateRequest{ContainerRequests: []*dp.ContainerAllocateRequest{{DevicesIds: c.IDs}}})
	if err != nil {
		result(c.Tag, errFields(err))
		return
	}
	envs := map[string]string{}
	cdi := []string{}
	for _, cr := range resp.ContainerResponses {
		for k, v := range cr.Envs {
			envs[k] = v
		}
		for _, d := range cr.CdiDevices {
			cdi = append(cdi, d.Name)
		}
	}
	result(c.Tag, map[string]any{"ok": true, "envs": envs, "cdi": cdi, "containers": len(resp.ContainerResponses)})
}

func (s *standin) preferred(c command) {
	cl := s.client(c.Resource)
	if cl == nil {
		result(c.Tag, map[string]any{"ok": false, "error": "no plugin for " + c.Resource})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.GetPreferredAllocation(ctx, &dp.PreferredAllocationRequest{ContainerRequests: []*dp.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: c.Available, MustIncludeDeviceIDs: c.Must, AllocationSize: c.Size}}})
	if err != nil {
		result(c.Tag, errFields(err))
		return
	}
	ids := []string{}
	for _, cr := range resp.ContainerResponses {
		ids = append(ids, cr.DeviceIDs...)
	}
	result(c.Tag, map[string]any{"ok": true, "ids": ids})
}

// rawCodec sends bytes exactly as given, to put malformed or oversized messages on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = append([]byte(nil), data...); return nil }
func (rawCodec) Name() string                       { return "proto" }

func (s *standin) raw(c command) {
	s.mu.Lock()
	p := s.plugins[c.Resource]
	s.mu.Unlock()
	if p == nil {
		result(c.Tag, map[string]any{"ok": false, "error": "no plugin for " + c.Resource})
		return
	}
	var body []byte
	if c.Bytes > 0 {
		body = make([]byte, c.Bytes)
		for i := range body {
			body[i] = 0x0a // a length-delimited field 1 tag, repeated: valid-looking but never well-formed
		}
	} else {
		var err error
		if body, err = hex.DecodeString(c.Hex); err != nil {
			result(c.Tag, map[string]any{"ok": false, "error": err.Error()})
			return
		}
	}
	var reply []byte
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.conn.Invoke(ctx, c.Method, &body, &reply, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		result(c.Tag, errFields(err))
		return
	}
	result(c.Tag, map[string]any{"ok": true, "reply_hex": hex.EncodeToString(reply)})
}

type hammerResult struct {
	calls, ok, refused, okAfterRefused int
	lastOkStart, firstRefusedStart     int64
}

// hammer makes Allocate calls for one device from several goroutines until stop_hammer, recording when
// each call started, so that the test can compare against the moment kerf's withdraw returned.
func (s *standin) hammer(c command) {
	cl := s.client(c.Resource)
	if cl == nil {
		result(c.Tag, map[string]any{"ok": false, "error": "no plugin for " + c.Resource})
		return
	}
	stop := make(chan struct{})
	s.mu.Lock()
	s.hammerStop = stop
	s.hammerRes = make([]hammerResult, c.Workers)
	s.mu.Unlock()
	for w := 0; w < c.Workers; w++ {
		s.hammerWG.Add(1)
		go func(w int) {
			defer s.hammerWG.Done()
			r := hammerResult{}
			for {
				select {
				case <-stop:
					s.mu.Lock()
					s.hammerRes[w] = r
					s.mu.Unlock()
					return
				default:
				}
				start := monoNS()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := cl.Allocate(ctx, &dp.AllocateRequest{ContainerRequests: []*dp.ContainerAllocateRequest{{DevicesIds: c.IDs}}})
				cancel()
				r.calls++
				if err == nil {
					r.ok++
					r.lastOkStart = max(r.lastOkStart, start)
					if r.refused > 0 {
						r.okAfterRefused++
					}
				} else {
					if r.refused == 0 {
						r.firstRefusedStart = start
					}
					r.refused++
				}
			}
		}(w)
	}
	result(c.Tag, map[string]any{"ok": true})
}

func (s *standin) stopHammer(c command) {
	s.mu.Lock()
	stop := s.hammerStop
	s.hammerStop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	s.hammerWG.Wait()
	var t hammerResult
	for _, r := range s.hammerRes {
		t.calls += r.calls
		t.ok += r.ok
		t.refused += r.refused
		t.okAfterRefused += r.okAfterRefused
		t.lastOkStart = max(t.lastOkStart, r.lastOkStart)
	}
	result(c.Tag, map[string]any{"ok": true, "calls": t.calls, "allocated": t.ok, "refused": t.refused,
		"ok_after_refused": t.okAfterRefused, "last_ok_start_ns": t.lastOkStart})
}

func (s *standin) setPodres(c command) {
	resp := &pr.ListPodResourcesResponse{}
	alloc := &pr.AllocatableResourcesResponse{}
	for _, p := range c.Pods {
		topo := &pr.TopologyInfo{Nodes: []*pr.NUMANode{{ID: p.NUMA}}}
		if p.Name == "" { // allocatable only
			alloc.Devices = append(alloc.Devices, &pr.ContainerDevices{ResourceName: p.Resource, DeviceIds: p.IDs, Topology: topo})
			continue
		}
		resp.PodResources = append(resp.PodResources, &pr.PodResources{Name: p.Name, Namespace: p.Namespace,
			Containers: []*pr.ContainerResources{{Name: p.Container, Devices: []*pr.ContainerDevices{
				{ResourceName: p.Resource, DeviceIds: p.IDs, Topology: topo}}}}})
	}
	if c.Bytes > 0 { // one more pod whose name makes the answer that large
		resp.PodResources = append(resp.PodResources, &pr.PodResources{Name: strings.Repeat("x", c.Bytes), Namespace: "pad"})
	}
	s.mu.Lock()
	s.podres, s.alloc = resp, alloc
	s.mu.Unlock()
	result(c.Tag, map[string]any{"ok": true})
}

// restart behaves like a kubelet restart: the Registration server goes away, the device-plugin directory
// is emptied (the kubelet removes every socket there when it starts), then kubelet.sock is created again.
func (s *standin) restart(c command) {
	s.mu.Lock()
	for _, p := range s.plugins {
		p.cancel()
		p.conn.Close()
	}
	s.plugins = map[string]*plugin{}
	srv := s.regServer
	s.mu.Unlock()
	srv.Stop()
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sock") {
			_ = os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
	if err := s.serveRegistration(); err != nil {
		result(c.Tag, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	result(c.Tag, map[string]any{"ok": true})
}

func (s *standin) serveRegistration() error {
	path := filepath.Join(s.dir, "kubelet.sock")
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	dp.RegisterRegistrationServer(srv, &registration{s: s})
	s.mu.Lock()
	s.regServer = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

func main() {
	dir := flag.String("dir", "", "device plugin directory (kubelet.sock is served there)")
	podresPath := flag.String("podres", "", "pod-resources socket path")
	flag.Parse()
	if *dir == "" || *podresPath == "" {
		fmt.Fprintln(os.Stderr, "usage: kubelet-standin -dir DIR -podres SOCKET")
		os.Exit(2)
	}
	s := &standin{dir: *dir, plugins: map[string]*plugin{}, podres: &pr.ListPodResourcesResponse{},
		alloc: &pr.AllocatableResourcesResponse{}}
	_ = os.Remove(*podresPath)
	pl, err := net.Listen("unix", *podresPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	psrv := grpc.NewServer()
	pr.RegisterPodResourcesListerServer(psrv, &podresources{s: s})
	go func() { _ = psrv.Serve(pl) }()
	if err := s.serveRegistration(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	emit(map[string]any{"ev": "ready", "mono_ns": monoNS()})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			emit(map[string]any{"ev": "error", "error": "bad command: " + err.Error()})
			continue
		}
		switch c.Op {
		case "allocate":
			go s.allocate(c)
		case "preferred":
			go s.preferred(c)
		case "raw":
			go s.raw(c)
		case "hammer":
			s.hammer(c)
		case "stop_hammer":
			s.stopHammer(c)
		case "podres":
			s.setPodres(c)
		case "restart":
			s.restart(c)
		case "mono":
			result(c.Tag, map[string]any{"ok": true, "mono_ns": monoNS()})
		case "quit":
			psrv.Stop()
			s.regServer.Stop()
			return
		default:
			emit(map[string]any{"ev": "error", "error": "unknown op " + c.Op})
		}
	}
	// stdin closed: the test is gone; so are we.
}

// SPDX-License-Identifier: Apache-2.0

// fakecri is the container runtime of kerf's local test cluster (scripts/cluster.sh). It serves Kubernetes'
// own fake CRI, k8s.io/cri-client/pkg/fake (the runtime kubemark's hollow nodes use), on a unix socket: a
// real kubelet creates sandboxes and containers through it, but no image is pulled and no process runs.
// Everything the kubelet does around the runtime (admission, the device manager and its Allocate calls,
// checkpoints, pod-resources, status) is the real kubelet's.
//
// Two additions make the fake useful for kerf:
//   - Every container start and stop is written as one JSON line to --events, with the container's
//     environment: that is where Allocate's NVIDIA_VISIBLE_DEVICES shows, as a real container would see it.
//   - With --fakenvml-ctl and --fakenvml-state, a started container's MIG devices get a "process" in the
//     simulated NVML library (and lose it when the container stops), as a CUDA program would show on a real
//     GPU. The simulated library then counts any destroy of such an instance as a violation.
//
// A container whose environment sets KERF_FAKECRI_EXIT_AFTER (a Go duration such as "20s") exits by itself,
// with status 0, that long after it started: with restartPolicy Never its pod then Succeeds, so a demo can
// show pods arriving and finishing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-client/pkg/fake"
)

type runtime struct {
	*fake.RemoteRuntime
	events   *os.File
	ctl      string // fakenvml-ctl, or ""
	state    string // its state file
	mu       sync.Mutex
	devices  map[string][]string // container ID -> MIG UUIDs from NVIDIA_VISIBLE_DEVICES
	env      map[string]map[string]string
	meta     map[string][3]string // container ID -> namespace, pod, container
	eventsMu sync.Mutex
}

func (r *runtime) emit(ev map[string]any) {
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	ev["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(ev)
	_, _ = r.events.Write(append(b, '\n'))
}

// migDevices: the MIG UUIDs in an NVIDIA_VISIBLE_DEVICES value ("MIG-a,MIG-b"; "all", "none" and GPU UUIDs
// name no MIG device).
func migDevices(v string) []string {
	var out []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "MIG-") {
			out = append(out, d)
		}
	}
	return out
}

// fakePID: a stable pretend process ID for a container (the simulated library only needs it non-zero).
func fakePID(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return fmt.Sprint(1000 + h.Sum32()%4000000)
}

// setProcess marks (pid != "0") or clears the MIG device's process in the simulated NVML state.
func (r *runtime) setProcess(uuid, pid string) error {
	if r.ctl == "" {
		return nil
	}
	out, err := exec.Command(r.ctl, "--state", r.state, "process-uuid", uuid, pid).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s process-uuid %s %s: %v: %s", r.ctl, uuid, pid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (r *runtime) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	resp, err := r.RemoteRuntime.CreateContainer(ctx, req)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range req.GetConfig().GetEnvs() {
		env[kv.GetKey()] = string(kv.GetValue())
	}
	md := req.GetSandboxConfig().GetMetadata()
	r.mu.Lock()
	r.env[resp.ContainerId] = env
	r.devices[resp.ContainerId] = migDevices(env["NVIDIA_VISIBLE_DEVICES"])
	r.meta[resp.ContainerId] = [3]string{md.GetNamespace(), md.GetName(), req.GetConfig().GetMetadata().GetName()}
	r.mu.Unlock()
	return resp, nil
}

func (r *runtime) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	id := req.GetContainerId()
	r.mu.Lock()
	devs, env, meta := r.devices[id], r.env[id], r.meta[id]
	r.mu.Unlock()
	// The process appears before the runtime says the container runs, as a CUDA program's would.
	for _, d := range devs {
		if err := r.setProcess(d, fakePID(id)); err != nil {
			r.emit(map[string]any{"event": "error", "id": id, "error": err.Error()})
			return nil, err
		}
	}
	resp, err := r.RemoteRuntime.StartContainer(ctx, req)
	if err != nil {
		return nil, err
	}
	r.emit(map[string]any{"event": "start", "id": id, "namespace": meta[0], "pod": meta[1], "container": meta[2],
		"devices": devs, "env": env})
	if d, err := time.ParseDuration(env["KERF_FAKECRI_EXIT_AFTER"]); err == nil && d > 0 {
		time.AfterFunc(d, func() { r.exit(id) })
	}
	return resp, nil
}

// exit ends a running container with status 0, as if its process had finished; the kubelet's next relist
// sees it.
func (r *runtime) exit(id string) {
	rs := r.RemoteRuntime.RuntimeService
	rs.Lock()
	c, ok := rs.Containers[id]
	running := ok && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	if running {
		c.State = runtimeapi.ContainerState_CONTAINER_EXITED
		c.FinishedAt = time.Now().UnixNano()
		c.ExitCode = 0
		c.Reason = "Completed"
	}
	rs.Unlock()
	if running {
		r.stopped(id)
	}
}

// stopped clears the container's MIG processes once; both StopContainer and RemoveContainer end here.
func (r *runtime) stopped(id string) {
	r.mu.Lock()
	devs, meta := r.devices[id], r.meta[id]
	delete(r.devices, id)
	r.mu.Unlock()
	if devs == nil {
		return
	}
	for _, d := range devs {
		if err := r.setProcess(d, "0"); err != nil {
			r.emit(map[string]any{"event": "error", "id": id, "error": err.Error()})
		}
	}
	r.emit(map[string]any{"event": "stop", "id": id, "namespace": meta[0], "pod": meta[1], "container": meta[2],
		"devices": devs})
}

func (r *runtime) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	resp, err := r.RemoteRuntime.StopContainer(ctx, req)
	if err == nil {
		r.stopped(req.GetContainerId())
	}
	return resp, err
}

func (r *runtime) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	r.stopped(req.GetContainerId())
	r.mu.Lock()
	delete(r.env, req.GetContainerId())
	delete(r.meta, req.GetContainerId())
	r.mu.Unlock()
	return r.RemoteRuntime.RemoveContainer(ctx, req)
}

// StopPodSandbox: the kubelet may stop a sandbox without stopping its containers one by one first.
func (r *runtime) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	resp, err := r.RemoteRuntime.StopPodSandbox(ctx, req)
	if err != nil {
		return nil, err
	}
	cs, lerr := r.RemoteRuntime.RuntimeService.ListContainers(ctx,
		&runtimeapi.ContainerFilter{PodSandboxId: req.GetPodSandboxId()})
	if lerr == nil {
		for _, c := range cs {
			r.stopped(c.GetId())
		}
	}
	return resp, nil
}

func main() {
	listen := flag.String("listen", "", "unix socket path to serve the CRI on")
	events := flag.String("events", "", "file to append JSON container events to")
	ctl := flag.String("fakenvml-ctl", "", "fakenvml-ctl binary: started containers' MIG devices get a process")
	state := flag.String("fakenvml-state", "", "the simulated NVML state file fakenvml-ctl edits")
	imageFS := flag.String("image-fs", "/", "a real mount point reported as the image filesystem")
	flag.Parse()
	if *listen == "" || *events == "" || (*ctl == "") != (*state == "") {
		fmt.Fprintln(os.Stderr, "usage: fakecri --listen SOCKET --events FILE [--fakenvml-ctl BIN --fakenvml-state FILE] [--image-fs DIR]")
		os.Exit(2)
	}
	ev, err := os.OpenFile(*events, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	f := fake.NewFakeRemoteRuntime()
	rs, is := f.RuntimeService, f.ImageService
	rs.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: true},
	}}
	// The kubelet asks for the cgroup driver (RuntimeConfig) and refuses images of unknown size.
	rs.FakeLinuxConfiguration = &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}
	is.SetFakeImageSize(1 << 20)
	usage := []*runtimeapi.FilesystemUsage{{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: *imageFS},
		UsedBytes:  &runtimeapi.UInt64Value{Value: 1 << 20},
		InodesUsed: &runtimeapi.UInt64Value{Value: 16},
	}}
	is.SetFakeFilesystemUsage(usage)
	is.SetFakeContainerFilesystemUsage(usage)

	r := &runtime{RemoteRuntime: f, events: ev, ctl: *ctl, state: *state, devices: map[string][]string{},
		env: map[string]map[string]string{}, meta: map[string][3]string{}}
	_ = os.Remove(*listen)
	l, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, r)
	runtimeapi.RegisterImageServiceServer(srv, r)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; srv.Stop() }()
	log.Printf("fakecri: serving on %s", *listen)
	if err := srv.Serve(l); err != nil {
		log.Fatal(err)
	}
}

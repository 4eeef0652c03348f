// SPDX-License-Identifier: Apache-2.0

// cdi-check: what the CDI reference library (tags.cncf.io/container-device-interface, the code containerd and
// CRI-O resolve CDI names with) makes of the spec files in one folder. kerf's tests run it on the spec the
// agent writes, so that "valid CDI" is the library's verdict, not kerf's own reading of the specification.
//
// Usage: cdi-check DIR. Prints one line per device the library resolves, sorted:
//
//	kerf.dev/mig=MIG-…: /dev/nvidia3 /dev/nvidia-caps/nvidia-cap21 /dev/nvidia-caps/nvidia-cap22
//
// then the spec-wide device nodes and environment ("common: …"), and exits 1 if the library reported any
// error for any file (a rejected spec, a conflicting device name), printing it.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"tags.cncf.io/container-device-interface/pkg/cdi"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cdi-check DIR")
		os.Exit(2)
	}
	c, err := cdi.NewCache(cdi.WithSpecDirs(os.Args[1]), cdi.WithAutoRefresh(false))
	failed := err != nil
	if err != nil {
		fmt.Println("error:", err)
	}
	for path, errs := range c.GetErrors() {
		for _, e := range errs {
			fmt.Printf("error: %s: %v\n", path, e)
			failed = true
		}
	}
	names := c.ListDevices()
	sort.Strings(names)
	common := map[string]bool{}
	for _, name := range names {
		d := c.GetDevice(name)
		var nodes []string
		for _, n := range d.ContainerEdits.DeviceNodes {
			nodes = append(nodes, n.Path)
		}
		fmt.Printf("%s: %s\n", name, strings.Join(nodes, " "))
		s := d.GetSpec()
		for _, n := range s.ContainerEdits.DeviceNodes {
			common[n.Path] = true
		}
		for _, e := range s.ContainerEdits.Env {
			common[e] = true
		}
	}
	var all []string
	for k := range common {
		all = append(all, k)
	}
	sort.Strings(all)
	fmt.Printf("common: %s\n", strings.Join(all, " "))
	if failed {
		os.Exit(1)
	}
}

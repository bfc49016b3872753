//go:build nvml && cgo

package sysmon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlBackend reads GPUs through NVIDIA's management library, loaded at
// run time by go-nvml (which needs cgo). A reading costs microseconds, in
// this process.
type nvmlBackend struct{}

var (
	nvmlOnce sync.Once
	nvmlErr  error
)

var errNVMLNotBuilt = errors.New("NVML not usable")

func openNVML() (gpuBackend, error) {
	nvmlOnce.Do(func() {
		// Init stays in effect for the life of the process; NVML counts
		// Init/Shutdown pairs, and readings are made until the process ends.
		if ret := nvml.Init(); ret != nvml.SUCCESS {
			nvmlErr = fmt.Errorf("NVML: %s", nvml.ErrorString(ret))
			return
		}
		if n, ret := nvml.DeviceGetCount(); ret != nvml.SUCCESS || n == 0 {
			nvmlErr = errors.New("NVML: no devices")
		}
	})
	if nvmlErr != nil {
		return nil, nvmlErr
	}
	return nvmlBackend{}, nil
}

func (nvmlBackend) name() string { return "nvml" }

func (nvmlBackend) read(context.Context) ([]GPUDevice, []GPUProcess, error) {
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, nil, fmt.Errorf("NVML: device count: %s", nvml.ErrorString(ret))
	}
	var devs []GPUDevice
	var procs []GPUProcess
	for i := 0; i < n; i++ {
		d, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, nil, fmt.Errorf("NVML: device %d: %s", i, nvml.ErrorString(ret))
		}
		mem, ret := d.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			return nil, nil, fmt.Errorf("NVML: device %d memory: %s", i, nvml.ErrorString(ret))
		}
		uuid, _ := d.GetUUID()
		name, _ := d.GetName()
		util := -1.0
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			util = float64(u.Gpu)
		}
		devs = append(devs, GPUDevice{Index: i, UUID: uuid, Name: name, UsedBytes: mem.Used, TotalBytes: mem.Total, UtilPct: util})
		ps, ret := d.GetComputeRunningProcesses()
		if ret != nvml.SUCCESS {
			continue
		}
		for _, p := range ps {
			// NVML reports an unavailable amount as all ones.
			known := p.UsedGpuMemory != ^uint64(0)
			used := p.UsedGpuMemory
			if !known {
				used = 0
			}
			procs = append(procs, GPUProcess{PID: int(p.Pid), GPU: uuid, UsedBytes: used, Known: known})
		}
	}
	return devs, procs, nil
}

func (b nvmlBackend) stream(ctx context.Context, interval time.Duration, dev func([]GPUDevice), proc func([]GPUProcess)) (time.Duration, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, nil
		case <-t.C:
			devs, procs, err := b.read(ctx)
			if err != nil {
				return 0, err
			}
			dev(devs)
			proc(procs)
		}
	}
}

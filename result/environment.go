package result

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
)

// Version is piobench's version, set at build time with
// -ldflags "-X github.com/inference-pio/piobench/result.Version=v1.2.3";
// otherwise it comes from the module's build information.
var Version = ""

// An Environment records where a run happened, so that results are compared
// like with like.
type Environment struct {
	OS              string `json:"os"`
	Arch            string `json:"arch"`
	Kernel          string `json:"kernel,omitempty"`
	Hostname        string `json:"hostname,omitempty"`
	CPUModel        string `json:"cpu_model"`
	CPUCores        int    `json:"cpu_cores"`  // logical CPUs
	GoMaxProcs      int    `json:"gomaxprocs"` // CPUs this process may use
	MemoryBytes     uint64 `json:"memory_bytes"`
	GoVersion       string `json:"go_version"`
	PiobenchVersion string `json:"piobench_version"`
	GitCommit       string `json:"git_commit,omitempty"` // of the working directory, when it is a repository
	GitDirty        bool   `json:"git_dirty,omitempty"`
	GPUs            []GPU  `json:"gpus"` // empty when there is none
	GPUNote         string `json:"gpu_note,omitempty"`
}

// A GPU is one accelerator seen on the machine.
type GPU struct {
	Name        string `json:"name"`
	Driver      string `json:"driver,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
}

// CaptureEnvironment describes this machine. It never fails: what cannot be
// read is left empty (and the GPU note says why when there is no GPU).
func CaptureEnvironment(ctx context.Context) Environment {
	env := Environment{
		OS:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		CPUCores:        runtime.NumCPU(),
		GoMaxProcs:      runtime.GOMAXPROCS(0),
		GoVersion:       runtime.Version(),
		PiobenchVersion: PiobenchVersion(),
	}
	if hn, err := os.Hostname(); err == nil {
		env.Hostname = hn
	}
	if k, err := host.KernelVersionWithContext(ctx); err == nil {
		env.Kernel = k
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		env.CPUModel = strings.TrimSpace(infos[0].ModelName)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		env.MemoryBytes = vm.Total
	}
	env.GitCommit, env.GitDirty = gitCommit(ctx)
	env.GPUs, env.GPUNote = detectGPUs(ctx)
	return env
}

// PiobenchVersion returns Version, or the module version from build
// information, or "devel".
func PiobenchVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func runQuiet(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

func gitCommit(ctx context.Context) (string, bool) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", false
	}
	commit, err := runQuiet(ctx, 2*time.Second, "git", "rev-parse", "HEAD")
	if err != nil || len(commit) < 7 {
		return "", false
	}
	status, err := runQuiet(ctx, 5*time.Second, "git", "status", "--porcelain", "--untracked-files=no")
	return commit, err == nil && status != ""
}

// detectGPUs asks nvidia-smi, which needs no cgo. Machines without it get a
// plain note.
func detectGPUs(ctx context.Context) ([]GPU, string) {
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return []GPU{}, "no GPU (nvidia-smi not found)"
	}
	out, err := runQuiet(ctx, 5*time.Second, "nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits")
	if err != nil {
		return []GPU{}, "no GPU (nvidia-smi failed: " + err.Error() + ")"
	}
	gpus := parseNvidiaSMI(out)
	if len(gpus) == 0 {
		return []GPU{}, "no GPU (nvidia-smi listed none)"
	}
	return gpus, ""
}

// parseNvidiaSMI reads lines of "name, driver, memory MiB".
func parseNvidiaSMI(out string) []GPU {
	gpus := []GPU{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || strings.TrimSpace(f[0]) == "" {
			continue
		}
		g := GPU{Name: strings.TrimSpace(f[0]), Driver: strings.TrimSpace(f[1])}
		if mib, err := strconv.ParseUint(strings.TrimSpace(f[2]), 10, 64); err == nil {
			g.MemoryBytes = mib << 20
		}
		gpus = append(gpus, g)
	}
	return gpus
}

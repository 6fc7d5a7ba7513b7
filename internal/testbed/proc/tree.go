package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procInfo identifies a process across PID reuse: the PID and its start time in clock ticks.
type procInfo struct {
	pid, ppid, pgid int
	start           uint64
	state           byte
}

// readStat parses /proc/PID/stat; ok is false when the process is gone.
func readStat(pid int) (procInfo, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(data[end+1:]))
	// f[0] is field 3 (state); ppid is field 4, pgrp 5, starttime 22.
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, start: start, state: f[0][0]}, true
}

// alive reports whether the same process (same start time) still runs; a zombie has
// finished running and only waits for its parent to reap it.
func (p procInfo) alive() bool {
	now, ok := readStat(p.pid)
	return ok && now.start == p.start && now.state != 'Z' && now.state != 'X'
}

// Alive reports whether a PID belongs to a running (not zombie) process, for tests that
// check a stopped server left nothing behind.
func Alive(pid int) bool {
	info, ok := readStat(pid)
	return ok && info.state != 'Z' && info.state != 'X'
}

// tree returns the live leader, the members of its process group and the descendants of both.
func tree(leader int) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	all := map[int]procInfo{}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		info, ok := readStat(pid)
		if !ok || info.state == 'Z' || info.state == 'X' {
			continue
		}
		all[pid] = info
		children[info.ppid] = append(children[info.ppid], pid)
	}
	var out []procInfo
	seen := map[int]bool{}
	var queue []int
	if _, ok := all[leader]; ok {
		queue = append(queue, leader)
	}
	for pid, info := range all {
		if info.pgid == leader && pid != leader {
			queue = append(queue, pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, all[pid])
		queue = append(queue, children[pid]...)
	}
	return out
}

// rssOf reads VmRSS of one process in bytes.
func rssOf(pid int) (int64, error) { return procKB(pid, "status", "VmRSS:") }

// pssOf reads the proportional set size of one process in bytes.
func pssOf(pid int) (int64, error) { return procKB(pid, "smaps_rollup", "Pss:") }

// procKB reads a "Key: N kB" line of /proc/PID/file, in bytes.
func procKB(pid int, file, key string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		return 0, fmt.Errorf("read %s of pid %d: %w", file, pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %s of pid %d: %w", file, key, pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in %s of pid %d", key, file, pid)
}
